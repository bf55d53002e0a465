"""Application nodes of the conversation tree (SMB2 trees and files, HTTP hosts) on the real samples,
against tshark: per TCP conversation, the share paths of the successful TREE CONNECTs, the names of
the successful CREATEs on each tree (tshark pairs request and response by MessageId as we do), and
the HTTP hosts with their request counts.  Each node's filter selects exactly the node's frames."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tshark, sample
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.trace import Trace
from tracemon.tui import app_nodes, conversations
from tracemon.tui.conversations import Scope

SMB2_SAMPLES = ["pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng",
                ("netmon/msprotod_MS-ADOD_Example1_4_Win2016_X64_Win2016_X64_Domain_"
                 "UnjoiningADomainMember.cap"),
                "netmon/msprotod_MS-AUTHSOD_Example3-1_Win2016_X64_Win2016_X64_Domain.cap",
                "netmon/msprotod_MS-CCROD_Example2Peer1Version1_Win2016_X64_Win10_X64_Domain_CePark.cap"]
HTTP_SAMPLES = ["netmon/DERIVED_tcpreplay_test.netmon2.cap", "pcapng/chrissanders_arppoison.pcapng",
                "pcapng/chrissanders_http_ip4and6.pcapng",
                "netmon/msprotod_MS-CCROD_Example2Peer1Version1_Win2016_X64_Win10_X64_Domain_CePark.cap"]


def tshark(path: str, display_filter: str, *fields: str) -> list[list[list[str]]]:
    """Rows of fields, each field's occurrences as a list."""
    args = [require_tshark(), "-n", "-o", "tcp.desegment_tcp_streams:FALSE", "-r", path, "-Y", display_filter,
            "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        args += ["-e", f]
    res = subprocess.run(args, capture_output=True, text=True, check=True)
    return [[v.split("|") if v else [] for v in line.split("\t")] for line in res.stdout.splitlines()]


def app_scopes(trace: Trace) -> dict[int, list[Scope]]:
    """TCP conversation id → its application nodes (files inside their trees' ``kids``)."""
    out = {}
    for family in conversations.children(trace, conversations.root(trace)):
        if family.kind != "family":
            continue
        for pair in conversations.children(trace, family):
            for conv in conversations.children(trace, pair):
                if conv.kind == "l4" and conv.expandable:
                    out[conv.key[0]] = conversations.children(trace, conv)
    return out


def stream_of(trace: Trace, path: str) -> dict[int, int]:
    """Our TCP conversation id → tshark's tcp.stream, by the frames they share."""
    out = {}
    for (num,), (stream,) in tshark(path, "tcp", "frame.number", "tcp.stream"):
        out.setdefault(int(trace.index.l4_conv[int(num) - 1]), int(stream))
    return out


def tshark_smb2(path: str) -> tuple[set[tuple[int, str]], Counter[tuple[int, str, str]]]:
    """({(stream, share path)}, {(stream, share path, file name): opens}) of successful connects and
    opens."""
    rows = tshark(path, "smb2", "frame.number", "tcp.stream", "smb2.cmd", "smb2.flags.response",
                  "smb2.msg_id", "smb2.nt_status", "smb2.tree", "smb2.filename")
    names: dict[tuple[int, str], str] = {}
    connects: dict[tuple[int, str], str] = {}
    trees: set[tuple[int, str]] = set()
    files: Counter[tuple[int, str, str]] = Counter()
    for _, (stream,), cmds, flags, mids, statuses, tree, filenames in rows:
        s = int(stream)
        if cmds[0] == "5" and flags[0] in ("0", "False"):
            # a create request carries one smb2.filename, the create's (none: the share's root); the
            # QUERY DIRECTORY compounded after it has its pattern in another field
            names[(s, mids[0])] = filenames[0] if filenames else ""
        if cmds[0] == "3" and flags[0] in ("0", "False"):
            connects[(s, mids[0])] = tree[0]
        if flags[0] not in ("1", "True") or int(statuses[0], 0) != 0:
            continue
        if cmds[0] == "3" and (s, mids[0]) in connects:  # tshark names the tree in the request
            trees.add((s, connects[(s, mids[0])]))
        elif cmds[0] == "5" and (s, mids[0]) in names:
            files[(s, tree[0], names[(s, mids[0])])] += 1
    return trees, files


@pytest.mark.tshark
@pytest.mark.parametrize("rel", SMB2_SAMPLES)
def test_smb2_trees_and_files_match_tshark(rel: str) -> None:
    path = str(sample(rel))
    want_trees, want_files = tshark_smb2(path)
    assert want_trees, "no SMB2 tree connects: the comparison would be empty"
    with open_trace(path, use_cache=False) as t:
        streams = stream_of(t, path)
        got_trees, got_files = set(), Counter()
        for cid, nodes in app_scopes(t).items():
            for node in nodes:
                if node.kind != "smb2-tree" or not node.label.startswith("SMB2 \\\\"):
                    continue
                share = node.label.removeprefix("SMB2 ")
                got_trees.add((streams[cid], share))
                for f in node.kids:
                    label = f.label.removeprefix("(share root)")
                    name, _, opens = label.partition(" (")
                    got_files[(streams[cid], share, name.strip())] = int(opens.split()[0]) if opens else 1
    assert got_trees == want_trees
    # a tree connected on another connection of the session (SMB3 multichannel) or before the capture
    # is named by its TreeId here; tshark follows the session across connections and names it
    assert got_files == Counter({f: n for f, n in want_files.items() if (f[0], f[1]) in want_trees})


@pytest.mark.tshark
@pytest.mark.parametrize("rel", HTTP_SAMPLES)
def test_http_hosts_and_request_counts_match_tshark(rel: str) -> None:
    path = str(sample(rel))
    want = Counter((int(s[0]), h) for s, hosts in tshark(path, "http.request", "tcp.stream", "http.host")
                   for h in hosts)
    assert want
    with open_trace(path, use_cache=False) as t:
        streams = stream_of(t, path)
        got = Counter()
        for cid, nodes in app_scopes(t).items():
            for node in nodes:
                if node.kind == "http-host":
                    host, count = node.label.removeprefix("HTTP ").rsplit(" (", 1)
                    got[(streams[cid], host)] += int(count.split()[0])
    assert got == want


@pytest.mark.parametrize("rel", [SMB2_SAMPLES[0], HTTP_SAMPLES[0]])
def test_each_nodes_filter_selects_its_frames(rel: str) -> None:
    with open_trace(str(sample(rel)), use_cache=False) as t:
        nodes = [n for kids in app_scopes(t).values() for n in kids]
        nodes += [f for n in nodes for f in n.kids]
        assert len(nodes) > 5
        for node in nodes:
            assert node.filter, node.label
            hits = np.flatnonzero(compile_filter(node.filter, trace=t).evaluate(t))
            assert hits.tolist() == node.rows.tolist(), (node.label, node.filter)
            assert np.flatnonzero(conversations.mask(t, node)).tolist() == node.rows.tolist()


def test_conversation_filter_selects_the_conversation() -> None:
    with open_trace(str(sample(HTTP_SAMPLES[2])), use_cache=False) as t:  # IPv4 and IPv6
        ids = np.unique(t.index.l4_conv[t.index.l4_conv > 0])
        for cid in ids:
            text = app_nodes.conversation_filter(t, int(cid))
            hits = np.flatnonzero(compile_filter(text, trace=t).evaluate(t))
            assert hits.tolist() == np.flatnonzero(t.index.l4_conv == cid).tolist(), text


def test_smb2_names_follow_message_ids_not_order(tmp_path: Path) -> None:
    """Two TREE CONNECTs and two CREATEs outstanding at once, answered in the other order: each
    TreeId gets its own request's path and each FileId its own request's name."""
    from test_dcerpc import nbss
    from test_dissect_synthetic import eth, ipv4, tcp, write_pcap

    frames, seqs = [], {True: 1000, False: 1000}
    for seg in _out_of_order():
        reply = bool(seg[4 + 16] & 1)  # the header's flags: a response goes the other way
        ends = (445, 50000) if reply else (50000, 445)
        hosts = ("10.0.0.2", "10.0.0.1") if reply else ("10.0.0.1", "10.0.0.2")
        frames.append(eth(0x0800, ipv4(6, tcp(*ends, 0x18, nbss(seg), seq=seqs[reply], ack=seqs[not reply]),
                                       *hosts)))
        seqs[reply] += len(nbss(seg))
    path = tmp_path / "smb2.pcap"
    write_pcap(path, 1, frames)
    with open_trace(path, use_cache=False) as t:
        (nodes,) = app_scopes(t).values()
        trees = {n.label: [f.label for f in n.kids] for n in nodes}
        assert trees == {"SMB2 \\\\srv\\a": ["a.txt"], "SMB2 \\\\srv\\b": ["b.txt"]}
        rows = {n.label: (n.rows + 1).tolist() for n in nodes}
        assert rows == {"SMB2 \\\\srv\\a": [4, 6, 7], "SMB2 \\\\srv\\b": [3, 5, 8]}


def _smb2(cmd: int, mid: int, tid: int, body: bytes, response: bool = False, status: int = 0) -> bytes:
    import struct

    return (b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, status, cmd, 1, int(response), 0, mid)
            + struct.pack("<IIQ", 0, tid, 9) + b"\0" * 16 + body)


def _out_of_order() -> list[bytes]:
    import struct

    def connect(mid: int, path: str) -> bytes:
        p = path.encode("utf-16-le")
        return _smb2(3, mid, 0, struct.pack("<HHHH", 9, 0, 64 + 8, len(p)) + p)

    def connected(mid: int, tid: int) -> bytes:
        return _smb2(3, mid, tid, struct.pack("<HBBIII", 16, 1, 0, 0, 0, 0x1F01FF), response=True)

    def create(mid: int, tid: int, name: str) -> bytes:
        n = name.encode("utf-16-le")
        body = struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x80, 0, 7, 1, 0, 64 + 56, len(n), 0, 0) + n
        return _smb2(5, mid, tid, body)

    def created(mid: int, tid: int, fid: int) -> bytes:
        body = struct.pack("<HBBI", 89, 0, 0, 1) + b"\0" * 56 + struct.pack("<QQ", fid, fid) + b"\0" * 8
        return _smb2(5, mid, tid, body, response=True)

    return [connect(1, "\\\\srv\\a"), connect(2, "\\\\srv\\b"), connected(2, 7), connected(1, 5),
            create(3, 7, "b.txt"), create(4, 5, "a.txt"), created(4, 5, 0x41), created(3, 7, 0x42)]


def test_frames_past_the_bound_are_summarised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_nodes, "MAX_FRAMES", 10)
    with open_trace(str(sample(SMB2_SAMPLES[0])), use_cache=False) as t:
        big = max((n for kids in [conversations.children(t, p) for f in conversations.children(
            t, conversations.root(t)) if f.kind == "family" for p in conversations.children(t, f)]
                   for n in kids if n.kind == "l4" and n.expandable), key=lambda n: n.count)
        nodes = conversations.children(t, big)
        idx = t.index
        total = int(np.count_nonzero((idx.l4_conv == big.key[0]) & ((idx.protos & app_nodes.APP_MASK) != 0)))
        assert nodes[-1].kind == "more" and nodes[-1].count == total - 10
        assert "more SMB2/HTTP frames not read" in nodes[-1].label


def test_cancelled_computation_gives_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    with open_trace(str(sample(SMB2_SAMPLES[0])), use_cache=False) as t:
        conv = next(c for cid, c in _l4_nodes(t) if c.expandable)
        assert app_nodes.children(t, conv, cancel) is None
        assert conversations.children(t, conv, cancel) == []


def _l4_nodes(t: Trace) -> list[tuple[int, Scope]]:
    out = []
    for family in conversations.children(t, conversations.root(t)):
        if family.kind == "family":
            for pair in conversations.children(t, family):
                out += [(c.key[0], c) for c in conversations.children(t, pair) if c.kind == "l4"]
    return out
