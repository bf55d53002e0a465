"""The TUI driven through Textual's Pilot on real samples, the demo trace and a 1 M-frame pcap.

Expected frame sets come from tshark (``-Y`` / ``-z conv``) where a filter or a conversation
selects frames, so these tests check what a user sees against an independent tool.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tshark, sample
from tracemon.tui import config as _config
from tracemon.tui.app import ErrorScreen, TracemonApp
from tracemon.tui.screens.columns import ColumnsScreen
from tracemon.tui.screens.export import ExportScreen
from tracemon.tui.screens.help import HelpScreen
from tracemon.tui.screens.picker import PickerScreen
from tracemon.tui.screens.presets import PresetPickerScreen, SavePresetScreen
from tracemon.tui.screens.prompt import PromptScreen
from tracemon.tui.screens.trace import TraceScreen
from tracemon.tui.screens.warnings import WarningsScreen
from tracemon.tui.widgets.conversation_tree import ConversationTree
from tracemon.tui.widgets.filter_bar import FilterBar
from tui_support import async_test, settle, truncated_copy, write_udp_pcap

PCAP = "pcap/tcpreplay_test.pcap"
BIG = (160, 50)
SMALL = (80, 24)


@pytest.fixture(scope="module")
def million(tmp_path_factory) -> Path:
    return write_udp_pcap(tmp_path_factory.mktemp("big") / "million.pcap", 1_000_000)


def tshark_frames(path: Path, display_filter: str) -> list[int]:
    exe = require_tshark()
    out = subprocess.run([exe, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout
    return [int(x) - 1 for x in out.split()]


def tshark_values(path: Path, display_filter: str, field: str) -> list[str]:
    exe = require_tshark()
    out = subprocess.run([exe, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", field],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def first_ttl(path: Path) -> str:
    exe = require_tshark()
    return subprocess.run([exe, "-r", str(path), "-c", "1", "-T", "fields", "-e", "ip.ttl"],
                          capture_output=True, text=True, check=True).stdout.strip()


def screen_of(app: TracemonApp) -> TraceScreen:
    s = app.screen
    while not isinstance(s, TraceScreen):
        s = app.screen_stack[-2]
    return s


def displayed(screen: TraceScreen) -> list[int]:
    return [int(i) for i in screen.view.displayed()]


def list_text(screen: TraceScreen) -> list[str]:
    frames = screen.frames
    return [frames.render_line(y).text for y in range(frames.size.height)]


def status_text(screen: TraceScreen) -> str:
    return screen.status.render().plain


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


# -- opening -------------------------------------------------------------------------------

@async_test
async def test_opens_a_pcap_and_shows_netmon_columns():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        assert len(screen.view) == 179
        lines = list_text(screen)
        assert lines[0].split()[:3] == ["Frame", "Time", "(UTC)"]
        assert "Description" in lines[0]
        assert lines[1].split()[0] == "1" and "172.16.11.12" in lines[1] and "74.125.19.17" in lines[1]
        assert "179 frames" in status_text(screen)
        assert "2010-07-07 03:16:19" in status_text(screen)
        # the details and hex follow the cursor
        await pilot.press("down", "down")
        await settle(app, pilot)
        assert screen.details.frame.number == 3
        assert screen.hex.data == screen.trace.raw(2)


@async_test
async def test_first_screen_comes_before_the_scan_ends(million):
    app = TracemonApp([str(million)])
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause(0.05)
        screen = screen_of(app)
        assert screen.first_paint is not None  # (its time is measured by benchmarks/bench_tui.py)
        assert not screen.trace.complete.is_set(), "the scan should still be running"
        assert "loading" in status_text(screen)
        await settle(app, pilot)
        assert len(screen.view) == 1_000_000
        assert "loading" not in status_text(screen)


@async_test
async def test_scroll_to_the_end_of_a_million_frames(million):
    app = TracemonApp([str(million)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("end")
        await settle(app, pilot)
        assert screen.frames.cursor == 999_999
        lines = list_text(screen)
        last = [line for line in lines if line.split() and line.split()[0] == "1000000"]
        assert last, lines[-3:]
        k = 999_999  # the writer's addresses for frame k
        assert f"10.0.{k // 256 % 4}.{k % 256}" in last[0] and f"192.168.1.{k % 50 + 1}" in last[0]
        for _ in range(5):
            await pilot.press("pageup")
        await settle(app, pilot)
        assert screen.frames.cursor == 999_999 - 5 * screen.frames.page_rows
        await pilot.press("home")
        await settle(app, pilot)
        assert list_text(screen)[1].split()[0] == "1"


@async_test
async def test_damaged_file_shows_what_was_kept(tmp_path):
    broken = truncated_copy(sample(PCAP), tmp_path / "broken.pcap", 30)
    app = TracemonApp([str(broken)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, WarningsScreen)
        body = str(app.screen.query_one("#warnings-body").render())
        assert "truncated record" in body and "178 frames" in body
        await pilot.press("escape")
        screen = screen_of(app)
        assert len(screen.view) == 178
        assert "1 warning" in status_text(screen)


@async_test
async def test_a_file_that_cannot_be_opened_gets_an_error_panel(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a trace at all")
    app = TracemonApp([str(tmp_path / "missing.pcap"), str(junk)])
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorScreen)
        text = str(app.screen.query_one("Static").render())
        assert "no such file" in text and "unknown file format" in text
        await pilot.press("q")
    assert app.return_code == 1


@async_test
async def test_demo_trace_opens_without_arguments():
    app = TracemonApp([])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        assert screen.trace.format == "etl" and len(screen.view) > 1000
        tree = screen.query_one(ConversationTree)
        labels = [str(n.data.label) for n in tree.root.children]
        assert "ETW events" in labels and "Processes" in labels


PROBE_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<instrumentationManifest xmlns="http://schemas.microsoft.com/win/2004/08/events">
 <instrumentation><events>
  <provider name="Tracemon-Tui-Probe" guid="{5c0ffee0-0000-4000-8000-000000000001}" symbol="TUIPROBE">
   <events><event value="7" symbol="PROBE_SEEN"/></events>
  </provider>
 </events></instrumentation>
</instrumentationManifest>
"""


@async_test
async def test_manifests_given_on_the_command_line_are_loaded(tmp_path):
    manifest = tmp_path / "probe.xml"
    manifest.write_text(PROBE_MANIFEST)
    app = TracemonApp([str(sample(PCAP))], manifests=[str(manifest), str(tmp_path / "missing.xml")])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, WarningsScreen)  # the manifest that is not there
        assert "missing.xml: no such file" in str(app.screen.query_one("#warnings-body").render())
        await pilot.press("escape")
        screen = screen_of(app)
        from tracemon.tui import filter_api

        # the provider's events are names now (unknown ones do not compile); this pcap just has none
        cf = filter_api.compile("TracemonTuiProbe.PROBE_SEEN", screen.trace)
        assert all("matches nothing in this trace" in w.message for w in cf.warnings)


# -- filter bar ----------------------------------------------------------------------------

@async_test
async def test_filter_typo_shows_the_error_then_the_fix_applies():
    path = sample(PCAP)
    want = tshark_frames(path, "tcp.port == 443")
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("slash")
        await type_text(pilot, "TCP.Prot == 443")
        await settle(app, pilot)
        bar = screen.query_one(FilterBar)
        assert bar.has_class("-invalid") and not bar.last.ok
        assert bar.last.column == 1
        message = str(bar.query_one("#filter-message").render())
        assert "^" in message and "Prot" in message
        await pilot.press("enter")  # refused while invalid
        await settle(app, pilot)
        assert len(screen.view) == 179
        for _ in range(len(" == 443")):
            await pilot.press("left")
        await pilot.press("backspace", "backspace", "backspace")  # "rot"
        await type_text(pilot, "ort")
        await settle(app, pilot)
        assert bar.value == "TCP.Port == 443" and bar.has_class("-valid")
        await pilot.press("enter")
        await settle(app, pilot)
        assert displayed(screen) == want
        assert f"{len(want)} of 179 frames" in status_text(screen)
        assert "TCP.Port == 443" in status_text(screen)
        await pilot.press("escape")  # leaves the bar; the filter stays
        await settle(app, pilot)
        assert displayed(screen) == want and bar.value == "TCP.Port == 443"
        await pilot.press("ctrl+l")  # clears
        await settle(app, pilot)
        assert len(screen.view) == 179 and bar.value == ""


@async_test
async def test_filter_history_walks_back():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        bar = screen.query_one(FilterBar)
        for text in ("ARP", "IPv6"):
            await pilot.press("slash")
            bar.set_text("")
            await type_text(pilot, text)
            await pilot.press("enter")
            await settle(app, pilot)
        bar.input.focus()
        bar.set_text("")
        await pilot.press("up")
        assert bar.value == "IPv6"
        await pilot.press("up")
        assert bar.value == "ARP"
        await pilot.press("down", "down")
        assert bar.value == ""


@async_test
async def test_completion_offers_fields_of_the_protocol():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("slash")
        await type_text(pilot, "TCP.Src")
        await settle(app, pilot)
        lst = screen.query_one("#filter-completions")
        assert lst.display
        bar = screen.query_one(FilterBar)
        texts = [c.text for c in bar.candidates]
        assert any(t.endswith("SrcPort") for t in texts), texts
        await pilot.press("tab")
        assert bar.value.lower().startswith("tcp.srcport")


# -- presets -------------------------------------------------------------------------------

@async_test
async def test_pick_a_standard_preset():
    path = sample(PCAP)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        names = [p.name for p in app.presets.list()]
        arp = next(p for p in app.presets.list() if p.expression.strip().upper() == "ARP")
        await pilot.press("p")
        await pilot.pause(0.05)
        assert isinstance(app.screen, PresetPickerScreen)
        assert len(app.screen.shown) == len(names)
        await type_text(pilot, arp.name)
        await pilot.press("enter")
        await settle(app, pilot)
        assert displayed(screen) == tshark_frames(path, "arp")
        assert f"Preset {arp.name}" in status_text(screen)


@async_test
async def test_saved_preset_is_there_after_a_restart(tmp_path):
    path = sample(PCAP)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.filter_bar.set_text("IPv4.Address == 10.31.0.1", apply=True)
        screen.set_columns(["number", "source", "ICMP.Type"], persist=False)
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await pilot.pause(0.05)
        assert isinstance(app.screen, SavePresetScreen)
        await type_text(pilot, "Pings from the lab")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Preset Pings from the lab" in status_text(screen)
    again = TracemonApp([str(path)])
    async with again.run_test(size=BIG) as pilot:
        await settle(again, pilot)
        screen = screen_of(again)
        await pilot.press("p")
        await type_text(pilot, "pings lab")
        await pilot.press("enter")
        await settle(again, pilot)
        assert screen.filter_text == "IPv4.Address == 10.31.0.1"
        assert displayed(screen) == tshark_frames(path, "ip.addr == 10.31.0.1")
        assert screen.column_names == ["number", "source", "ICMP.Type"]  # the preset's columns
        icmp_type = tshark_values(path, "ip.addr == 10.31.0.1", "icmp.type")
        lines = list_text(screen)
        x = lines[0].index("Type")
        assert [line[x:].split()[0] for line in lines[1:3]] == icmp_type


@async_test
async def test_two_traces_and_f6_switches_between_them():
    first, second = sample(PCAP), sample("pcapng/chrissanders_http_ip4and6.pcapng")
    app = TracemonApp([str(first), str(second)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        assert screen_of(app).trace.path == str(first)
        await pilot.press("f6")
        await settle(app, pilot)
        screen = screen_of(app)
        assert screen.trace.path == str(second)
        assert len(screen.view) == len(tshark_frames(second, "frame"))
        await pilot.press("f6")
        await settle(app, pilot)
        assert screen_of(app).trace.path == str(first)


# -- conversations -------------------------------------------------------------------------

@async_test
async def test_clicking_a_conversation_narrows_the_list():
    path = sample(PCAP)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tree = screen.query_one(ConversationTree)
        ipv4 = next(n for n in tree.root.children if n.data.label == "IPv4")
        await pilot.click(ConversationTree, offset=(4, ipv4.line))
        await settle(app, pilot)
        assert ipv4.is_expanded
        pair = next(n for n in ipv4.children if n.data.label.startswith("172.16.11.12 ↔ 216.34.181.45"))
        await pilot.click(ConversationTree, offset=(8, pair.line))
        await settle(app, pilot)
        assert displayed(screen) == tshark_frames(path, "ip.addr == 172.16.11.12 && ip.addr == 216.34.181.45")
        assert "Conversation 172.16.11.12 ↔ 216.34.181.45" in status_text(screen)
        # combined with the display filter
        screen.filter_bar.set_text("TCP.Port == 80", apply=True)
        await settle(app, pilot)
        assert displayed(screen) == tshark_frames(
            path, "ip.addr == 172.16.11.12 && ip.addr == 216.34.181.45 && tcp.port == 80")
        tree.focus()
        await pilot.press("a")  # back to all traffic
        await settle(app, pilot)
        assert displayed(screen) == tshark_frames(path, "tcp.port == 80")


# -- details and hex -----------------------------------------------------------------------

async def _open_ipv4_ttl(app, pilot, screen):
    screen.details.focus()
    ipv4 = next(n for n in screen.details.root.children if n.data.title == "IPv4")
    ipv4.expand()
    await settle(app, pilot)
    ttl = next(n for n in ipv4.children if n.data.title == "TimeToLive")
    screen.details.move_cursor(ttl)
    await settle(app, pilot)
    return ttl


@async_test
async def test_field_bytes_light_up_in_hex_and_hex_clicks_select_fields():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        ttl = await _open_ipv4_ttl(app, pilot, screen)
        assert screen.hex.selection == (ttl.data.start, 1) == (22, 1)
        # click the first byte of the IPv4 source address (offset 26): row 1, byte 10 of 16
        hexv = screen.hex
        x = 6 + 10 * 3 + 1  # past the middle gap
        await pilot.click("#hex", offset=(x, 1))
        await settle(app, pilot)
        node = screen.details.cursor_node.data
        assert node.title == "SourceAddress" and node.start == 26 and hexv.cursor == 26


@async_test
async def test_add_field_as_column_and_to_filter():
    path = sample(PCAP)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await _open_ipv4_ttl(app, pilot, screen)
        await pilot.press("i")
        await settle(app, pilot)
        assert screen.column_names[-1] == "IPv4.TimeToLive"
        header = list_text(screen)[0]
        assert "TimeToLive" in header
        want_ttl = first_ttl(path)
        assert list_text(screen)[1].rstrip().endswith(want_ttl)
        assert _config.load().columns[-1] == "IPv4.TimeToLive"  # remembered
        screen.details.focus()
        await pilot.press("a")
        await settle(app, pilot)
        assert screen.filter_text == f"IPv4.TimeToLive == {want_ttl}"
        assert displayed(screen) == tshark_frames(path, f"ip.ttl == {want_ttl}")
        await pilot.press("y")
        assert app.clipboard == want_ttl


# -- navigation ----------------------------------------------------------------------------

@async_test
async def test_go_to_marks_and_time_modes():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, PromptScreen)
        await type_text(pilot, "150")
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.frames.frame == 149
        await pilot.press("m")
        await pilot.press("ctrl+g")
        await type_text(pilot, "20")
        await pilot.press("enter")
        await pilot.press("m", "home")
        await pilot.press("right_square_bracket")
        assert screen.frames.frame == 19
        await pilot.press("right_square_bracket")
        assert screen.frames.frame == 149
        assert screen.view.marks == {19, 149}
        line = next(t for t in list_text(screen) if t.startswith("●"))
        assert line.split()[1] == "150"
        # time column: UTC → local → offset → delta → reference
        ts = screen.trace.index.ts
        await pilot.press("t", "t", "t")  # delta from the previous displayed frame
        await settle(app, pilot)
        row = next(t for t in list_text(screen) if t.startswith("●"))
        delta = (int(ts[149]) - int(ts[148])) / 1e9
        assert abs(float(row.split()[2]) - delta) < 1e-6
        await pilot.press("r")  # frame 150 becomes the reference
        await settle(app, pilot)
        assert screen.time_mode == "reference"
        row = next(t for t in list_text(screen) if t.startswith("●R"))
        assert row.split()[2] == "0.0000000"


@async_test
async def test_find_next_and_previous_keep_the_display_filter():
    path = sample(PCAP)
    want = tshark_frames(path, "arp || icmp")
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("ctrl+f")
        await type_text(pilot, "ICMP OR ARP")
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.frames.frame == want[0]
        await pilot.press("n")
        await settle(app, pilot)
        assert screen.frames.frame == want[1]
        await pilot.press("N")
        await settle(app, pilot)
        assert screen.frames.frame == want[0]
        assert len(screen.view) == 179


@async_test
async def test_sort_by_clicking_a_header():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        header = list_text(screen)[0]
        x = header.index("Source")
        await pilot.click("#frames", offset=(x, 0))
        await settle(app, pilot)
        sources = [screen.trace.frame(i).source for i in displayed(screen)]
        assert screen.view.sort.key == "source"
        assert sources[0] == min(sources, key=lambda s: (s == "", s.lower()))
        await pilot.click("#frames", offset=(x, 0))
        await settle(app, pilot)
        assert screen.view.sort.descending
        await pilot.press("s")
        assert isinstance(app.screen, PickerScreen)
        await type_text(pilot, "Frame Number")
        await pilot.press("enter")
        await settle(app, pilot)
        assert displayed(screen) == list(range(179))


@async_test
async def test_going_back_to_frame_order_wins_over_a_sort_still_running(tmp_path):
    path = write_udp_pcap(tmp_path / "sort.pcap", 50_000)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.sort_by("source")  # decodes every frame: still running …
        screen.sort_by("number")  # … when the user goes back to frame order
        await settle(app, pilot)
        assert screen.view.sort is None and displayed(screen) == list(range(50_000))


@async_test
async def test_timeline_click_jumps_to_that_time():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tl = screen.query_one("#timeline")
        hist = tl.hist
        assert hist is not None and int(hist.counts.sum()) == 179
        k = len(hist.counts) - 1
        await pilot.click("#timeline", offset=(k, 0))
        await settle(app, pilot)
        ts = screen.trace.index.ts
        t_start, _ = hist.bounds(k)
        assert screen.frames.frame == int(np.flatnonzero(ts >= t_start)[0])


# -- columns, export -----------------------------------------------------------------------

@async_test
async def test_columns_dialog_adds_removes_and_reorders():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        await pilot.press("c")
        assert isinstance(app.screen, ColumnsScreen)
        await pilot.press("x")  # remove Frame Number
        await pilot.press("a")
        await type_text(pilot, "TCP.Window")
        await pilot.press("enter")
        await pilot.press("shift+up")
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.column_names[0] == "TCP.Window" and "Frame Number" not in screen.column_names
        assert list_text(screen)[0].split()[0] == "Window"


@async_test
async def test_export_displayed_frames_to_csv(tmp_path):
    path = sample(PCAP)
    want = tshark_frames(path, "tcp.port == 80")
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.filter_bar.set_text("TCP.Port == 80", apply=True)
        await settle(app, pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        await pilot.click("#fmt-csv")
        target = tmp_path / "out.csv"
        app.screen.query_one("#export-path").value = str(target)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, ExportScreen)
    lines = target.read_text().splitlines()
    assert lines[0].startswith("Frame Number,Time,Time Offset")
    assert lines[1].split(",")[1].startswith("2010-07-07 03:16:")  # export keeps the date
    assert [int(x.split(",")[0]) - 1 for x in lines[1:]] == want


# -- keys, themes, help ---------------------------------------------------------------------

@async_test
async def test_theme_choice_is_remembered():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        assert app.theme == "tracemon-dark"
        await pilot.press("f9")
        await settle(app, pilot)
        chosen = app.theme
        assert chosen != "tracemon-dark" and chosen.startswith("tracemon-")
    assert _config.load().theme == chosen
    again = TracemonApp([str(sample(PCAP))])
    async with again.run_test(size=SMALL) as pilot:
        await settle(again, pilot)
        assert again.theme == chosen


@async_test
async def test_keys_are_remapped_from_the_config_file():
    path = _config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[keys]\ngoto = "f7"\nnonsense = "x"\n')
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        assert any("nonsense" in p for p in app.problems)
        await pilot.press("ctrl+g")
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("f7")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.table
        rows = [r for r in table.columns[0]._cells]
        titles = list(table.columns[1]._cells)
        assert rows[titles.index("Go to")] == "F7"


@async_test
async def test_palette_lists_every_command():
    from tracemon.tui import commands
    from tracemon.tui.palette import CommandsProvider

    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        provider = CommandsProvider(app.screen)
        entries = provider._entries()
        titles = {c.title for c, _ in entries}
        assert {c.title for c in commands.COMMANDS if c.palette} == titles
        target = {c.id: t for c, t in entries}["time_mode"]
        await provider._run(target, "time_mode")
        assert screen_of(app).time_mode == "local"


@async_test
async def test_panes_toggle_and_resize_at_80x24():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tree = screen.query_one("#tree")
        assert not tree.display  # collapsed at 80 columns
        await pilot.press("f2")
        await settle(app, pilot)
        assert tree.display
        w = tree.size.width
        await pilot.press("ctrl+right")
        await settle(app, pilot)
        assert tree.size.width == w + 4
        h = screen.frames.size.height
        await pilot.press("ctrl+down")
        await settle(app, pilot)
        assert screen.frames.size.height > h
        # with the tree open at 80 columns the hex view steps aside; F4 brings it back and hides it
        assert not screen.hex.display
        await pilot.press("f4")
        await settle(app, pilot)
        assert screen.hex.display
        await pilot.press("f4")
        await settle(app, pilot)
        assert not screen.hex.display


@async_test
async def test_filter_runs_in_the_background_with_a_count_and_a_keystroke_stops_it(million):
    app = TracemonApp([str(million)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        bar = screen.query_one(FilterBar)
        # a filter that decodes every frame: seconds on a million frames
        bar.set_text('Description.Contains("Query")', apply=True)
        # wait for the first matches to be shown (a bound, not a budget: a loaded machine is slow)
        for _ in range(600):
            await pilot.pause(0.05)
            if screen._filter_running and len(screen.view) > 0 and "applying" in status_text(screen):
                break
        assert screen._filter_running, "the filter should still be running"
        assert "matches in" in status_text(screen) and len(screen.view) > 0
        screen.frames.focus()  # the list stays usable meanwhile
        before = screen.frames.cursor
        await pilot.press("pagedown")
        assert screen.frames.cursor > before or len(screen.view) <= screen.frames.page_rows
        bar.input.focus()
        await pilot.press("end", "space")  # a keystroke in the filter bar
        for _ in range(200):
            await pilot.pause(0.05)
            if not screen._filter_running:
                break
        assert not screen._filter_running
        assert "filter stopped" in status_text(screen)
        # nothing half-applied stays behind: the list shows what was applied before (no filter),
        # and sorting it keeps every frame
        await settle(app, pilot)
        assert len(screen.view) == 1_000_000 and "Filter" not in status_text(screen)
        screen.sort_by("protocol")
        await settle(app, pilot)
        assert len(screen.view) == 1_000_000


@async_test
async def test_dragging_the_splitters_resizes_the_panes():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tree = screen.query_one("#tree")
        width = tree.size.width
        x, y = screen.query_one("#tree-splitter").region.x, 10  # screen coordinates: the bar moves
        await pilot.mouse_down(None, offset=(x, y))
        await pilot.hover(None, offset=(x + 10, y))
        await pilot.mouse_up(None, offset=(x + 10, y))
        await settle(app, pilot)
        assert tree.size.width == width + 10
        height = screen.frames.size.height
        x, y = 60, screen.query_one("#list-splitter").region.y
        await pilot.mouse_down(None, offset=(x, y))
        await pilot.hover(None, offset=(x, y + 6))
        await pilot.mouse_up(None, offset=(x, y + 6))
        await settle(app, pilot)
        assert screen.frames.size.height > height
