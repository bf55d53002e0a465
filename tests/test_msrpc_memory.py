"""MSRPC state kept across segments, per TCP conversation, against tshark (which keeps the same): a
response's opnum is its request's (by call id), a request's interface is the one an earlier bind or
alter context gave its context id.  On the two Microsoft samples carrying MSRPC (in SMB2 pipes,
including responses read on another SMB3 multichannel connection, which neither tool pairs) and on
crafted TCP 135 traces: several associations, a call id used again, an alter context, a response
whose request is on another connection."""

from __future__ import annotations

import struct
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import require_tshark, sample
from test_dcerpc import EPM, NDR, NO_REASSEMBLY, SAMPLES, fault, pdu, response
from test_dissect_synthetic import eth, ipv4, tcp, write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import convmemory, open_trace
from tracemon.traces.dissect import dcerpc, dissect
from tracemon.traces.dissect.msrpc_ops import OPERATIONS, operation

SAMR = "12345778-1234-abcd-ef00-0123456789ac"
SRVSVC = "4b324fc8-1670-01d3-1278-5a47bf6ee188"


def bind(call: int, contexts: list[tuple[int, str, int]], ptype: int = 11) -> bytes:
    """A bind (or alter context) of (context id, interface UUID, major version) items."""
    items = b"".join(struct.pack("<HBB", cid, 1, 0) + uuid.UUID(iface).bytes_le + struct.pack("<HH", ver, 0)
                     + uuid.UUID(NDR).bytes_le + struct.pack("<I", 2) for cid, iface, ver in contexts)
    return pdu(ptype, call, struct.pack("<HHIB3x", 5840, 5840, 0, len(contexts)) + items)


def call(call_id: int, ctx_id: int, opnum: int) -> bytes:
    return pdu(0, call_id, struct.pack("<IHH", 8, ctx_id, opnum) + b"\0" * 8)


def crafted() -> list[bytes]:
    a, b = 50010, 50011
    segs = [
        (a, 135, bind(1, [(0, EPM, 3), (1, SAMR, 1)])),  # 1
        (a, 135, call(2, 0, 3)), (135, a, response(2)),  # 2-3: ept_map
        (a, 135, call(3, 1, 64)), (135, a, response(3)),  # 4-5: SamrConnect5
        (a, 135, call(4, 1, 7)), (135, a, fault(4, 5)),  # 6-7: SamrOpenDomain, fault
        (a, 135, bind(5, [(1, SRVSVC, 3)], ptype=14)),  # 8: context 1 is SRVSVC from now on
        (a, 135, call(6, 1, 15)), (135, a, response(6)),  # 9-10: NetrShareEnum
        (a, 135, call(2, 1, 16)), (135, a, response(2)),  # 11-12: call id 2 again: NetrShareGetInfo
        (135, b, response(3)),  # 13: a response whose request is on the other connection
        (b, 135, call(7, 1, 64)),  # 14: no bind on this connection
    ]
    seqs: dict[tuple[int, int], int] = {}
    out = []
    for s, d, data in segs:
        seq = seqs.get((s, d), 1000)
        seqs[(s, d)] = seq + len(data)
        hosts = ("10.0.0.1", "10.0.0.2") if d == 135 else ("10.0.0.2", "10.0.0.1")
        out.append(eth(0x0800, ipv4(6, tcp(s, d, 0x18, data, seq=seq, ack=seqs.get((d, s), 1000)), *hosts)))
    return out


@pytest.fixture
def crafted_path(tmp_path: Path) -> str:
    path = tmp_path / "rpc135.pcap"
    write_pcap(path, 1, crafted())
    return str(path)


def tshark_calls(path: str) -> dict[int, tuple[str, str, str, str]]:
    """frame → (packet type, opnum, context id, protocol column) of requests and responses."""
    res = subprocess.run([require_tshark(), "-n", *NO_REASSEMBLY, "-r", path, "-Y",
                          "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2 || dcerpc.pkt_type == 3", "-T", "fields",
                          "-E", "occurrence=a", "-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.opnum",
                          "-e", "dcerpc.cn_ctx_id", "-e", "_ws.col.Protocol"], capture_output=True, text=True,
                         check=True)
    rows = {}
    for line in res.stdout.splitlines():
        num, ptype, opnum, ctx, proto = line.split("\t")
        rows[int(num)] = (ptype, opnum, ctx, proto)
    return rows


def our_calls(path: str) -> dict[int, tuple[str, str, str, str]]:
    """The same from our frames (as details and filters decode them); the protocol column is the
    interface a request or response is named with, else tshark's ``DCERPC``."""
    rows = {}
    with open_trace(path, use_cache=False) as t:
        for i in range(len(t)):
            frame = t.frame(i)
            ptypes = [f.value for f in frame.fields("MSRPC.PType")]
            if not ptypes or not set(ptypes) <= {0, 2, 3}:
                continue
            ifaces = {f.value for f in frame.fields("MSRPC.Interface")}
            rows[i + 1] = (",".join(map(str, ptypes)), ",".join(str(f.value) for f in frame.fields("MSRPC.OpNum")),
                           ",".join(str(f.value) for f in frame.fields("MSRPC.ContextId")),
                           ifaces.pop() if len(ifaces) == 1 else "DCERPC")
    return rows


def differences(path: str) -> list[str]:
    want, got = tshark_calls(path), our_calls(path)
    for rows in (want, got):  # tshark names no interface in a fault's protocol column (we do: compared above)
        rows.update({n: (*r[:3], "fault") for n, r in rows.items() if r[0] == "3"})
    assert want, "tshark found no requests or responses: the comparison would be empty"
    return [f"frame {n}: tshark {want.get(n)} ours {got.get(n)}" for n in sorted(set(want) | set(got))
            if want.get(n) != got.get(n)]


@pytest.mark.tshark
@pytest.mark.parametrize("rel", SAMPLES)
def test_samples_match_tshark(rel: str) -> None:
    assert differences(str(sample(rel))) == []


@pytest.mark.tshark
def test_crafted_tcp135_matches_tshark(crafted_path: str) -> None:
    assert differences(crafted_path) == []


def test_crafted_summaries_name_operations(crafted_path: str) -> None:
    with open_trace(crafted_path, use_cache=False) as t:
        texts = [t.frame(i).description for i in range(len(t))]
    assert texts[1] == "MSRPC:c/o Request: EPM ept_map (3) Call=0x2 Opnum=0x3 Context=0x0 Hint=0x8"
    assert texts[2].startswith("MSRPC:c/o Response: EPM ept_map (3) Call=0x2 Context=0x0")
    assert texts[3].startswith("MSRPC:c/o Request: SAMR SamrConnect5 (64) Call=0x3")
    assert texts[4].startswith("MSRPC:c/o Response: SAMR SamrConnect5 (64) Call=0x3")
    assert texts[6].startswith("MSRPC:c/o Fault: SAMR SamrOpenDomain (7) Call=0x4") and "ERROR_ACCESS_DENIED" in texts[6]
    assert texts[8].startswith("MSRPC:c/o Request: SRVSVC NetrShareEnum (15) Call=0x6")
    assert texts[11].startswith("MSRPC:c/o Response: SRVSVC NetrShareGetInfo (16) Call=0x2")
    assert texts[12] == "MSRPC:c/o Response: Call=0x3 Context=0x0 Hint=0x4 Cancels=0x0"
    assert texts[13] == "MSRPC:c/o Request: Call=0x7 Opnum=0x40 Context=0x1 Hint=0x8"
    # a frame dissected on its own (no trace) knows only its own segment
    assert dissect(crafted()[4], 1).description == "MSRPC:c/o Response: Call=0x3 Context=0x0 Hint=0x4 Cancels=0x0"


def _selected(path: str, expr: str) -> list[int]:
    with open_trace(path, use_cache=False) as t:
        cf = compile_filter(expr, trace=t)
        hits = cf.evaluate(t)
        assert cf.last_stats.errors == 0, cf.last_stats.first_error
        return [i + 1 for i in range(len(hits)) if hits[i]]


def _tshark_selected(path: str, ws: str) -> list[int]:
    res = subprocess.run([require_tshark(), "-n", *NO_REASSEMBLY, "-r", path, "-Y", ws, "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True)
    return [int(x) for x in res.stdout.split()]


@pytest.mark.tshark
@pytest.mark.parametrize(("netmon", "ws"), [("MSRPC.OpNum == 64", "dcerpc.opnum == 64"),
                                            ("MSRPC.OpNum == 16", "dcerpc.opnum == 16"),
                                            ("MSRPC.OpNum == 15 and MSRPC.PType == 2",
                                             "dcerpc.opnum == 15 && dcerpc.pkt_type == 2")])
def test_opnum_filters_select_responses_as_tshark(netmon: str, ws: str, crafted_path: str) -> None:
    for p in [*(str(sample(rel)) for rel in SAMPLES), crafted_path]:
        assert _selected(p, netmon) == _tshark_selected(p, ws), (p, netmon)


def test_interface_filter_selects_requests_and_responses(crafted_path: str) -> None:
    assert _selected(crafted_path, 'MSRPC.Interface == "SAMR" and MSRPC.PType != 11') == [4, 5, 6, 7]


def test_memory_is_bounded(crafted_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its bound a conversation's state gives no answer rather than a wrong one."""
    monkeypatch.setattr(dcerpc, "MAX_CALLS", 3)  # the bind's 2 contexts, then one call
    with open_trace(crafted_path, use_cache=False) as t:
        texts = [t.frame(i).description for i in range(len(t))]
    assert texts[2].startswith("MSRPC:c/o Response: EPM ept_map (3)")
    assert texts[3].startswith("MSRPC:c/o Request: SAMR SamrConnect5 (64)")  # what came before the cap is known
    assert texts[4] == "MSRPC:c/o Response: Call=0x3 Context=0x0 Hint=0x4 Cancels=0x0"  # its request was not kept
    monkeypatch.setattr(dcerpc, "MAX_CALLS", 100_000)
    monkeypatch.setattr(convmemory, "MAX_ROWS", 4)  # the first 4 MSRPC frames of each conversation are read
    with open_trace(crafted_path, use_cache=False) as t:
        texts = [t.frame(i).description for i in range(len(t))]
    assert texts[4].startswith("MSRPC:c/o Response: SAMR SamrConnect5 (64)")  # every frame before it was read
    assert texts[5] == "MSRPC:c/o Request: Call=0x4 Opnum=0x7 Context=0x1 Hint=0x8"  # frame 5 was not


def test_operation_names() -> None:
    assert operation("SAMR", 64) == "SAMR SamrConnect5 (64)"
    assert operation("SRVSVC", 3) == "SRVSVC (3)"  # reserved in MS-SRVS: not used on the wire
    assert operation("WINREG", 5) == "WINREG (5)"
    assert set(OPERATIONS) <= set(dcerpc.INTERFACES.values())


def test_memory_reads_forward_only_what_it_needs(crafted_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a frame adds only its conversation's earlier frames not added yet, and only those whose
    bytes hold a request, bind or alter context header (a response adds nothing: it is not dissected)."""
    read: list[int] = []
    real = convmemory._dissect.dissect

    def counted(data, link, registry, history=None, row=-1):  # type: ignore[no-untyped-def]
        if history is None:
            read.append(row)
        return real(data, link, registry, history, row)

    monkeypatch.setattr(convmemory._dissect, "dissect", counted)
    with open_trace(crafted_path, use_cache=False) as t:
        t.frame(4)  # frame 5, SamrConnect5's response: frames 1, 2 and 4 bind or call before it
        assert read == [0, 1, 3]
        t.frame(2)  # an earlier frame: nothing more to read
        assert read == [0, 1, 3]
        t.frame(11)  # frame 12: the calls and the alter context in frames 6, 8, 9 and 11 come next
        assert {5, 7, 8, 10} <= set(read[3:]) <= {5, 6, 7, 8, 10}  # the fault's zero bytes may look like one
        assert read == sorted(read) and 9 not in read  # frame 10 is a response
        before = list(read)
        t.frame(12)  # the other connection has its own state: a response alone, nothing to read
        assert read == before
