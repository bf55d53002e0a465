"""A value too long for the details pane is shown whole, wrapped, under the tree (issue 11:
long values were cut next to the hex view)."""

from __future__ import annotations

from conftest import sample
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle, tree_nodes

FASOD = "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"


@async_test
async def test_a_long_value_is_shown_whole_and_a_short_one_needs_no_line():
    app = TracemonApp([str(sample(FASOD))])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        trace = screen.trace
        commented = next(i for i in range(len(trace)) if trace.frame(i).comments)
        screen.go_to_frame(commented)
        await settle(app, pilot)
        details = screen.details
        details.focus()
        await pilot.press("asterisk")  # open everything, so the comment lines are there
        await settle(app, pilot)
        field_line = screen.query_one("#field-line")
        # the Comment node: its text is far longer than the pane beside the hex view
        comment = next(n for n in tree_nodes(details) if n.data is not None and n.data.title == "Comment")
        details.move_cursor(comment)
        await settle(app, pilot)
        whole = comment.data.line()
        assert len(whole) > details.size.width
        assert field_line.display and str(field_line.render()).replace("\n", " ").startswith(whole[:60])
        # a short field: no line under the tree
        short = next(n for n in tree_nodes(details) if n.data is not None and n.data.title == "FrameNumber")
        details.move_cursor(short)
        await settle(app, pilot)
        assert not field_line.display
