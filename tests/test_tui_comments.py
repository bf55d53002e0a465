"""Frame comments in the TUI, on a Microsoft protocol-documentation capture whose frames carry the
documentation's notes as pcapng comments (18 of 409 frames; tshark ``-Y frame.comment`` lists
them): the list marks them, the details show each comment line by line, the Comment column and
the ``Frame.Comment`` filter find them."""

from __future__ import annotations

import pytest
from conftest import sample
from test_tui_app import BIG, displayed, list_text, screen_of, tshark_frames
from tracemon.tui.app import TracemonApp
from tracemon.tui.columns import COMMENT_MARK
from tui_support import async_test, settle

pytestmark = pytest.mark.tshark

COMMENTED = "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"


@async_test
async def test_commented_frames_are_marked_shown_and_found():
    path = sample(COMMENTED)
    want = tshark_frames(path, "frame.comment")
    assert len(want) == 18
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        lines = list_text(screen)
        marked = [int(line.split()[1]) - 1 for line in lines[1:] if line.split()[:1] == [COMMENT_MARK]]
        plain = [int(line.split()[0]) - 1 for line in lines[1:] if line.split() and line.split()[0].isdigit()]
        shown = set(marked) | set(plain)
        assert marked == [i for i in want if i in shown] and marked  # frames 6 and 7 are on the first page
        assert not set(plain) & set(want)

        # the details: one Comment node under Frame, one line per line of the comment
        screen.go_to_frame(want[0])
        await settle(app, pilot)
        frame_node = screen.details.root.children[0]
        comment = next(n for n in frame_node.children if n.data.title == "Comment")
        text = screen.trace.frame(want[0]).comments[0]
        assert [c.data.title for c in comment.children] == [line.expandtabs(8) for line in text.splitlines()]
        assert comment.data.display.startswith("Title   Example 2 Task 1.")
        frame_node.expand()
        comment.expand()
        screen.details.move_cursor(comment.children[1])
        await settle(app, pilot)
        shown = [screen.details.render_line(y).text for y in range(screen.details.size.height)]
        assert any("Author  Microsoft Corporation" in line for line in shown)
        assert not any("\t" in line for line in shown)  # a tab would move the terminal's cursor

        # the filter, bare and with Contains, and the column
        assert screen.apply_filter("Frame.Comment")
        await settle(app, pilot)
        assert displayed(screen) == want
        assert screen.apply_filter('Frame.Comment.Contains("Close response")')
        await settle(app, pilot)
        assert displayed(screen) == tshark_frames(path, 'frame.comment contains "Close response"')
        screen.set_columns(["number", "comment"], persist=False)
        await settle(app, pilot)
        row = list_text(screen)[1]
        assert row.split()[:2] == [COMMENT_MARK, str(displayed(screen)[0] + 1)]
        assert "Title Example 2 Task 2. Figure" in row  # tabs and line breaks shown as spaces
