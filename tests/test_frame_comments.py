"""Frame comments outside the TUI: the filter (Netmon's ``FrameVariable.CommentTitle`` and
``Frame.Comment``), answered without decoding the frames that have none; ``show`` and ``list``
output; Netmon comments ("Title: text"); and the Process column naming the process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sample
from test_cli import tracemon
from test_tui_app import tshark_frames
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.columns import ColumnFormatter, resolve
from tracemon.traces.comments import comment_rows

COMMENTED = "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"
NETMON = "netmon/DERIVED_tcpreplay_test.netmon2.cap"
AUTHSOD = "netmon/msprotod_MS-AUTHSOD_Example3-1_Win2016_X64_Win2016_X64_Domain.cap"


def matches(trace, expr: str) -> list[int]:
    return np.flatnonzero(compile_filter(expr, registry=trace.registry, trace=trace).evaluate(trace)).tolist()


class CountingDecoder:
    """Wraps a reader's ``frame`` to count the frames a filter decodes."""

    def __init__(self, trace) -> None:
        self.decoded: list[int] = []
        self._frame = trace.reader.frame
        trace.reader.frame = self

    def __call__(self, i: int):
        self.decoded.append(i)
        return self._frame(i)


@pytest.mark.tshark
def test_comment_filters_decode_only_commented_frames() -> None:
    path = sample(COMMENTED)
    want = tshark_frames(path, "frame.comment")
    with open_trace(path, use_cache=False) as trace:
        assert comment_rows(trace).tolist() == want
        counter = CountingDecoder(trace)
        assert matches(trace, "Frame.Comment") == want
        assert counter.decoded == []  # known from the scan
        assert matches(trace, "!Frame.Comment") == sorted(set(range(len(trace))) - set(want))
        assert matches(trace, 'Frame.Comment.Contains("Close response")') == tshark_frames(
            path, 'frame.comment contains "Close response"')
        assert sorted(set(counter.decoded)) == want  # only the 18 commented frames, for their text
        assert matches(trace, 'Frame.Comment == "no such comment"') == []
        text = trace.frame(want[0]).comments[0]
        assert matches(trace, f"Frame.Comment == {json.dumps(text)}") == [want[0]]
        # the Comment column decodes only the commented frames too
        counter.decoded.clear()
        cells = [row[0] for row in ColumnFormatter(trace).rows([resolve("comment", trace)], range(len(trace)))]
        assert [i for i, c in enumerate(cells) if c] == want
        assert counter.decoded and set(counter.decoded) <= set(want)  # (some come from the trace's LRU)
        # Netmon's name for the comment title; a pcapng comment's title is its first line
        assert matches(trace, 'FrameVariable.CommentTitle.Contains("SMB2 Negotiate")') == want[:2]
        assert matches(trace, 'FrameVariable.CommentTitle.Contains("Author")') == []


def test_unknown_comment_offsets_fall_back_to_decoding() -> None:
    """An index cache written before the reader recorded comment offsets says "unknown": the
    same answers, found by decoding."""
    with open_trace(sample(COMMENTED), use_cache=False) as trace:
        want = comment_rows(trace).tolist()
        trace.reader.comment_locs = None
        assert comment_rows(trace) is None
        counter = CountingDecoder(trace)
        assert matches(trace, "Frame.Comment") == want
        assert len(counter.decoded) == len(trace)


def test_netmon_comments_title_and_rows() -> None:
    """Netmon comments come from the file's comment table as "Title: text" keyed by frame offset."""
    with open_trace(sample(NETMON), use_cache=False) as trace:
        loc = int(trace.index.loc[2])
        trace.reader.comments = {loc: ["Handshake: the server answers\nwith a SYN-ACK"]}
        assert comment_rows(trace).tolist() == [2]
        assert matches(trace, 'Frame.Comment.Contains("SYN-ACK")') == [2]
        frame = trace.frame(2)
        node = next(f for f in frame.layers[0].fields if f.title == "Comment")
        assert node.display == "Handshake: the server answers …"
        assert [c.title for c in node.children] == ["Handshake: the server answers", "with a SYN-ACK"]
        cell = ColumnFormatter(trace).text(resolve("comment", trace), 2)
        assert cell == "Handshake: the server answers / with a SYN-ACK"
        assert ColumnFormatter(trace).text(resolve("comment", trace), 3) == ""


def test_netmon_comment_table_rows_and_titles() -> None:
    """Microsoft's [MS-AUTHSOD] capture annotates 12 frames in its comment table; the rows known
    from the table are the frames whose decoded comments exist, and FrameVariable.CommentTitle
    matches a title exactly (titles hold ": ", so they are read from the table, not split off)."""
    with open_trace(sample(AUTHSOD), use_cache=False) as trace:
        rows = comment_rows(trace).tolist()
        assert [i for i in range(len(trace)) if trace.reader.frame(i).comments] == rows
        assert [i + 1 for i in rows] == [1, 22, 23, 30, 31, 32, 33, 36, 38, 41, 43, 65]
        counter = CountingDecoder(trace)
        title = "Example 3.3.1. Figure 32. Step 3 Kerberos AS_REQ"
        assert matches(trace, f'FrameVariable.CommentTitle == "{title}"') == [29]
        assert set(counter.decoded) <= set(rows)
        first = ("[MS-AUTHSOD]:Authentication Services Protocols Overview 3.3 Example 3.3.1: Using Kerberos "
                 "Protocol Extensions [MS-KILE]")
        assert matches(trace, f'FrameVariable.CommentTitle == "{first}"') == [0, 64]  # the same note twice
        assert trace.frame(0).comments[0].startswith(first + ": ")


def test_show_and_list_carry_the_comments() -> None:
    path = str(sample(COMMENTED))
    obj = json.loads(tracemon("show", path, "6", "--format", "json", "--no-hex").stdout)
    assert len(obj["comments"]) == 1 and obj["comments"][0].startswith("Title\tExample 2 Task 1. Figure 18.")
    text = tracemon("show", path, "6", "--no-hex").stdout
    assert "\n  Comment: Title   Example 2 Task 1. Figure 18. Step 1 SMB2 Negotiate request …\n" in text
    assert "\n    Author  Microsoft Corporation\n" in text  # one tree line per comment line, tabs expanded
    rows = json.loads(tracemon("list", path, "--limit", "7", "--format", "json").stdout)
    assert [len(r["comments"]) for r in rows] == [0, 0, 0, 0, 0, 1, 1]
    assert rows[5]["comments"] == obj["comments"]
    assert "Comments:   18 frames" in tracemon("stats", path).stdout
    assert json.loads(tracemon("stats", path, "--format", "json").stdout)["commented_frames"] == 18
    listed = tracemon("list", path, "--columns", "number,comment", "--filter", "Frame.Comment", "--format",
                      "csv").stdout.splitlines()
    assert listed[0] == "Frame Number,Comment" and len(listed) == 19
    assert listed[1].startswith("6,Title Example 2 Task 1. Figure 18. Step 1 SMB2 Negotiate request / Author")


def test_process_column_names_the_process_where_the_trace_knows_it() -> None:
    """Netmon 2.2+ files name the process of each frame (the process table); the Process column
    shows its executable with the pid, as the details' "Process" line does."""
    with open_trace(sample(NETMON), use_cache=False) as trace:
        fmt = ColumnFormatter(trace)
        assert resolve("process", trace).width == 10  # no names: just pids
        trace.facts["processes"] = ["1234 C:\\Windows\\System32\\svchost.exe"]
        pid = trace.index.column("pid")
        pid[0], pid[1] = 1234, 99
        col = resolve("process", trace)
        assert col.width > 10 and not col.align_right
        fmt = ColumnFormatter(trace)
        assert [fmt.text(col, i) for i in range(3)] == ["svchost.exe (1234)", "99", ""]
