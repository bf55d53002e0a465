"""What fits on screen: ETW protocol names, the tree's counts, columns on narrow terminals
(issue 11, defects 5 and 6)."""

from __future__ import annotations

from conftest import sample
from tracemon.tui import columns as _columns
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tracemon.tui.widgets.conversation_tree import ConversationTree
from tui_support import async_test, settle

PCAP = "pcap/tcpreplay_test.pcap"
ETW_ONLY = "etl/etlparser_AMSITrace.etl"
BIG = (160, 50)
SMALL = (80, 24)
VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"


def screen_of(app: TracemonApp) -> TraceScreen:
    return next(s for s in reversed(app.screen_stack) if isinstance(s, TraceScreen))


def list_text(screen: TraceScreen) -> list[str]:
    frames = screen.frames
    return [frames.render_line(y).text for y in range(frames.size.height)]


def tree_text(tree: ConversationTree) -> list[str]:
    return [tree.render_line(y).text.rstrip() for y in range(tree.size.height)]


@async_test
async def test_etw_rows_show_the_short_protocol_name():
    app = TracemonApp([])  # the demo: VmSwitch events
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        rows = [r for r in list_text(screen)[1:] if "VMSWITCH" in r]
        assert rows, list_text(screen)
        for r in rows:
            assert "VMSWITCH " in r and "VMSWITCH_" not in r, r
        # the full name stays in the details
        screen.frames.cursor = 1
        await settle(app, pilot)
        assert screen.details.frame.protocol_name == VMS


@async_test
async def test_tree_keeps_counts_and_ellipsises_long_provider_names():
    app = TracemonApp([])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tree = screen.query_one(ConversationTree)
        etw = next(n for n in tree.root.children if n.data.kind == "etw")
        etw.expand()
        await settle(app, pilot)
        lines = tree_text(tree)
        vms = next(line for line in lines if "VMSWITCH" in line)
        count = next(n.data.count for n in etw.children if n.data.label == VMS)
        assert vms.endswith(f"{count:,}") and "…" in vms, vms
        assert len(vms) <= tree.scrollable_content_region.width


def header(screen: TraceScreen) -> str:
    return screen.frames.render_line(0).text


@async_test
async def test_narrow_terminal_keeps_frame_time_protocol_and_a_wide_description():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        head = header(screen)
        for label in ("Frame", "Time", "Protocol", "Description"):
            assert label in head, head
        frames = screen.frames
        hidden = len(frames.hidden)
        assert hidden and f"+{hidden}" in head, head  # what did not fit is said
        assert frames.width_of("description") >= 26


@async_test
async def test_addresses_step_aside_in_a_trace_of_etw_events_only():
    app = TracemonApp([str(sample(ETW_ONLY))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        head = header(screen)
        assert "Source" not in head and "Destination" not in head, head
        assert "Time" in head and "Protocol" in head


@async_test
async def test_columns_resize_with_the_keyboard():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        frames = screen.frames
        assert [c.key for c in frames.hidden] == ["offset"] and "Offset" not in header(screen)
        await pilot.press("shift+left")  # from the Description to the Protocol column
        assert frames.current_column == "protocol"
        before = frames.width_of("protocol")
        await pilot.press(*["less_than_sign"] * 4)
        await settle(app, pilot)
        assert frames.width_of("protocol") == before - 8
        # the room it gave back lets the hidden column in
        assert not frames.hidden and "Offset" in header(screen) and "hidden" not in header(screen)
        await pilot.press("greater_than_sign")
        assert frames.width_of("protocol") == before - 6


@async_test
async def test_a_column_resizes_by_dragging_its_header_edge():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        frames = screen.frames
        before = frames.width_of("protocol")
        x = header(screen).index("Protocol") + before  # the gap after the Protocol column
        await pilot.mouse_down(frames, offset=(x, 0))
        await pilot.hover(frames, offset=(x + 6, 0))
        await pilot.mouse_up(frames, offset=(x + 6, 0))
        await settle(app, pilot)
        assert frames.width_of("protocol") == before + 6
        assert screen.view.sort is None  # the drag did not sort by Protocol


def test_ipv6_addresses_are_cut_in_the_middle():
    a = "2001:4958:15a0:24:c1b3:b766:7fff:d0b3"
    b = "2001:4958:15a0:24:c1b3:b766:7fff:d0b4"
    c = "2002:4958:15a0:24:c1b3:b766:7fff:d0b3"
    cut = {x: _columns.elide_middle(x, 17) for x in (a, b, c)}
    assert len(set(cut.values())) == 3 and all(len(v) == 17 for v in cut.values())
    assert cut[a] == "2001:495…fff:d0b3"
    assert _columns.elide_middle("10.0.0.1", 17) == "10.0.0.1"


@async_test
async def test_the_frame_list_shows_both_ends_of_an_ipv6_address():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.frames.go_to_position(28)  # frame 29: 2001:4958:15a0:24:c1b3:b766:7fff:d0b3 → 2606:4700::6812:69c
        await settle(app, pilot)
        row = next(r for r in list_text(screen) if r.split() and r.split()[0] == "29")
        assert "2001:495…fff:d0b3" in row and "2606:470…6812:69c" in row, row


# -- columns per kind of trace, and a preset's columns -------------------------------------

@async_test
async def test_etl_and_packet_traces_keep_their_own_columns():
    app = TracemonApp([])  # the demo ETL trace
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.set_columns(["number", "time", "process", "protocol", "description"])
        await settle(app, pilot)
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        assert "source" in screen.column_names and "process" in screen.column_names
        screen.set_columns(["number", "source", "destination", "description"])
    app = TracemonApp([])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        assert screen_of(app).column_names == ["number", "time", "process", "protocol", "description"]


@async_test
async def test_a_presets_columns_show_while_it_is_applied():
    from tracemon.tui import filter_api

    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        mine = list(screen.column_names)
        app.presets.save(filter_api.Preset(name="TTL view", expression="IPv4", columns=["number", "IPv4.TimeToLive"]))
        screen.use_preset(app.presets.get("TTL view"))
        await settle(app, pilot)
        assert screen.column_names == ["number", "IPv4.TimeToLive"]
        assert "TimeToLive" in header(screen)
        screen.apply_filter("TCP")  # another filter: the preset is no longer applied
        await settle(app, pilot)
        assert screen.column_names == mine
        assert app.config.columns == mine  # the preset's columns were never saved as the user's


def test_config_keeps_the_etl_columns_apart(tmp_path):
    from tracemon.tui import config

    path = tmp_path / "config.toml"
    cfg = config.load(path)
    cfg.set_columns_for("etl", ["number", "process", "description"])
    cfg.set_columns_for("pcapng", ["number", "source", "description"])
    cfg.save(path)
    again = config.load(path)
    assert again.columns_for("etl") == ["number", "process", "description"]
    assert again.columns_for("pcap") == again.columns_for("cap") == ["number", "source", "description"]
    path.write_text('etl_columns = "number"\n')
    bad = config.load(path)
    assert bad.problems and "etl_columns" in bad.problems[0] and bad.etl_columns == config.Config().etl_columns


@async_test
async def test_column_widths_are_kept_for_the_next_start():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        frames = screen_of(app).frames
        frames.focus()
        await pilot.press("shift+left")  # the Protocol column
        before = frames.width_of("protocol")
        await pilot.press(*["greater_than_sign"] * 3)
        await settle(app, pilot)
        wider = frames.width_of("protocol")
        assert wider == before + 6
    again = TracemonApp([str(sample(PCAP))])
    async with again.run_test(size=BIG) as pilot:
        await settle(again, pilot)
        assert screen_of(again).frames.width_of("protocol") == wider
