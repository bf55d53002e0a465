"""Frame details: expand and collapse everything with one key, kept for the next frames (issue 11)."""

from __future__ import annotations

from conftest import sample
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle, tree_nodes


@async_test
async def test_expand_all_opens_every_node_and_the_next_frame_opens_the_same_way():
    app = TracemonApp([str(sample("pcap/tcpreplay_test.pcap"))])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        details = screen.details
        expandable = [n for n in tree_nodes(details) if n.allow_expand]
        assert expandable and not all(n.is_expanded for n in expandable)
        details.focus()
        await pilot.press("asterisk")
        await settle(app, pilot)
        assert all(n.is_expanded for n in tree_nodes(details) if n.allow_expand)
        screen.frames.focus()
        await pilot.press("down")
        await settle(app, pilot)
        assert details.frame is not None and details.frame.index == 1
        nodes = [n for n in tree_nodes(details) if n.allow_expand]
        assert nodes and all(n.is_expanded for n in nodes)
        details.focus()
        await pilot.press("X")
        await settle(app, pilot)
        assert not any(n.is_expanded for n in tree_nodes(details) if n.allow_expand)


def _event_layer(details):
    from tracemon.tui.widgets.detail_tree import EVENT_LAYER

    return next(n for n in details.root.children if n.data is not None and n.data.path == (EVENT_LAYER,))


@async_test
async def test_an_etw_event_opens_with_its_fields_shown_and_the_choice_holds_across_providers():
    app = TracemonApp([str(sample("etl/pktmon_vpn_20210601.etl"))])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        details = screen.details
        trace = screen.trace
        kernel = next(i for i in range(len(trace)) if trace.providers[int(trace.index.provider[i])].protocol
                      .startswith("SystemTrace"))
        pktmon = next(i for i in range(len(trace)) if trace.providers[int(trace.index.provider[i])].protocol
                      .startswith("PktMon"))
        screen.go_to_frame(kernel)
        await settle(app, pilot)
        layer = _event_layer(details)
        assert layer.is_expanded and details.frame.index == kernel  # open from the start
        layer.collapse()
        await settle(app, pilot)
        screen.go_to_frame(pktmon)
        await settle(app, pilot)
        assert details.frame.index == pktmon and not _event_layer(details).is_expanded  # the choice holds
        _event_layer(details).expand()
        await settle(app, pilot)
        screen.go_to_frame(kernel)
        await settle(app, pilot)
        assert _event_layer(details).is_expanded
