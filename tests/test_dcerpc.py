"""MSRPC (connection-oriented DCE/RPC) against tshark: on the Microsoft samples that carry it (all of
it inside SMB2 named-pipe WRITE/READ/IOCTL) and on crafted frames on TCP 135 and a dynamic port
(found by the payload test), per frame the packet type, call id, opnum and bound interfaces; the
filters ``MSRPC``, ``MSRPCE``, ``DCERPC`` and ``MSRPC.OpNum == 0`` select tshark's frames; the index's
vectorised classification agrees with the dissector's.
"""

from __future__ import annotations

import struct
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tshark, sample
from test_dissect_synthetic import eth, ipv4, tcp, write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.dissect import dcerpc, dissect

NO_REASSEMBLY = ("-o", "tcp.desegment_tcp_streams:FALSE", "-o", "smb2.pipe_reassembly:FALSE", "-o",
                 "dcerpc.reassemble_dcerpc:FALSE")
SAMPLES = ["netmon/msprotod_MS-ADOD_Example1_4_Win2016_X64_Win2016_X64_Domain_UnjoiningADomainMember.cap",
           "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"]
NDR = "8a885d04-1ceb-11c9-9fe8-08002b104860"
LSARPC = "12345778-1234-abcd-ef00-0123456789ab"
EPM = "e1af8308-5d1f-11c9-91a4-08002b14a0fa"


def pdu(ptype: int, call: int, body: bytes, *, auth: bytes = b"", auth_type: int = 10, flags: int = 3,
        frag: int | None = None) -> bytes:
    trailer = struct.pack("<BBBBI", auth_type, 2, 0, 0, 0) + auth if auth else b""
    length = 16 + len(body) + len(trailer) if frag is None else frag
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", length, len(auth), call) + body + trailer


def bind(call: int, iface: str, ptype: int = 11, auth: bytes = b"") -> bytes:
    item = struct.pack("<HBB", 0, 1, 0) + uuid.UUID(iface).bytes_le + struct.pack("<HH", 0, 0)
    item += uuid.UUID(NDR).bytes_le + struct.pack("<I", 2)
    return pdu(ptype, call, struct.pack("<HHIB3x", 5840, 5840, 0, 1) + item, auth=auth)


def bind_ack(call: int) -> bytes:
    addr = b"135\0"
    body = struct.pack("<HHIH", 5840, 5840, 0x1234, len(addr)) + addr
    body += b"\0" * ((-(16 + len(body))) % 4)
    body += struct.pack("<B3x", 1) + struct.pack("<HH", 0, 0) + uuid.UUID(NDR).bytes_le + struct.pack("<I", 2)
    return pdu(12, call, body)


def request(call: int, opnum: int, stub: bytes = b"\0" * 8) -> bytes:
    return pdu(0, call, struct.pack("<IHH", len(stub), 0, opnum) + stub)


def response(call: int) -> bytes:
    return pdu(2, call, struct.pack("<IHBB", 4, 0, 0, 0) + b"\0" * 4)


def fault(call: int, status: int) -> bytes:
    return pdu(3, call, struct.pack("<IHBBI4x", 0, 0, 0, 0, status))


NTLM_NEGOTIATE = b"NTLMSSP\0" + struct.pack("<II", 1, 0xE2088297) + b"\0" * 16


def crafted() -> list[bytes]:
    """Frames on TCP 135 and on 49700 (found by the payload test)."""
    segs = [
        (50000, 135, bind(1, EPM)), (135, 50000, bind_ack(1)), (50000, 135, request(2, 3)),
        (135, 50000, response(2)), (50000, 135, request(3, 0)), (135, 50000, fault(3, 0x1C010003)),
        (50001, 49700, bind(1, LSARPC, auth=NTLM_NEGOTIATE)), (50001, 49700, request(7, 0) + request(8, 0x2C)),
        (50001, 49700, bind(2, LSARPC, ptype=14)),
        (50000, 135, request(9, 1, b"\0" * 200)[:60]),  # cut by the segment
        (50000, 135, b"\x11" * 40),  # continues a PDU
    ]
    seqs: dict[tuple[int, int], int] = {}
    out = []
    for s, d, data in segs:  # sequence numbers in order per direction, so tshark sees no retransmission
        seq = seqs.get((s, d), 1000)
        seqs[(s, d)] = seq + len(data)
        out.append(eth(0x0800, ipv4(6, tcp(s, d, 0x18, data, seq=seq, ack=seqs.get((d, s), 1000)))))
    return out


def tshark_rows(path: str) -> dict[int, tuple[str, ...]]:
    exe = require_tshark()
    res = subprocess.run([exe, "-n", *NO_REASSEMBLY, "-r", path, "-Y", "dcerpc", "-T", "fields", "-E", "occurrence=a",
                          "-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_call_id", "-e",
                          "dcerpc.cn_bind_to_uuid"], capture_output=True, text=True, check=True)
    rows = {}
    for line in res.stdout.splitlines():
        num, *rest = line.split("\t")
        rows[int(num)] = tuple(rest)
    return rows


def ours(data: bytes, link: int) -> tuple[str, ...] | None:
    ctx = dissect(data, link)
    rpc = [layer for layer in ctx.layers if layer.protocol is dcerpc.MSRPC]
    if not rpc or not any(f.fdef is dcerpc.PTYPE for f in rpc[0].walk()):
        return None
    fields = [f for layer in rpc for f in layer.walk()]

    def vals(fdef: object) -> str:
        return ",".join(str(f.value) for f in fields if f.fdef is fdef)

    return vals(dcerpc.PTYPE), vals(dcerpc.CALL_ID), vals(dcerpc.ABSTRACT_UUID)


def compare(path: str) -> list[str]:
    want = tshark_rows(path)
    got: dict[int, tuple[str, ...]] = {}
    with open_trace(path, use_cache=False) as t:
        for i in range(len(t)):
            frame = t.frame(i)
            row = ours(frame.data, frame.link_type)
            if row is not None:
                got[i + 1] = row
    problems = [f"frame {n}: tshark {want.get(n)} ours {got.get(n)}" for n in sorted(set(want) | set(got))
                if want.get(n) != got.get(n)]
    assert want, "tshark found no DCERPC: the comparison would be empty"
    return problems


@pytest.mark.tshark
@pytest.mark.parametrize("rel", SAMPLES)
def test_samples_match_tshark(rel: str) -> None:
    assert compare(str(sample(rel))) == []


@pytest.mark.tshark
def test_crafted_frames_match_tshark(tmp_path: Path) -> None:
    path = tmp_path / "rpc.pcap"
    write_pcap(path, 1, crafted())
    assert compare(str(path)) == []


def test_crafted_summaries_fields_and_ntlmssp() -> None:
    frames = crafted()
    texts = [dissect(f, 1).description for f in frames]
    assert texts[0].startswith(f"MSRPC:c/o Bind: UUID{{{EPM}}} EPM  Call=0x1  Assoc Grp=0x0  Xmit=0x16D0")
    assert "Results: Acceptance" in texts[1] and "Addr=135" in texts[1]
    assert texts[2] == "MSRPC:c/o Request: Call=0x2 Opnum=0x3 Context=0x0 Hint=0x8"
    assert "Status=nca_s_unk_if (0x1C010003)" in texts[5]
    ctx = dissect(frames[6], 1)
    assert [layer.protocol.name for layer in ctx.layers][-2:] == ["MSRPC", "NTLMSSP"]
    assert ctx.protocol_name == "MSRPC" and ctx.layers[-1].summary.startswith("NTLM NEGOTIATE MESSAGE")
    assert texts[7].count("c/o Request") == 2 and "Opnum=0x2C" in texts[7]
    assert texts[9].endswith("[truncated]")
    assert texts[10] == "MSRPC:continued"


@pytest.mark.parametrize("data", [request(1, 0)[:15], b"\x05\x00\x0b\x03\x10\0\0\0\x0f\0\0\0\0\0\0\0",
                                  b"\x05\x02" + request(1, 0)[2:], b"\x05\x00\x0b\x03\x10\0\0\x01" + b"\0" * 8])
def test_payload_test_rejects_what_is_not_a_pdu(data: bytes) -> None:
    """Too short, a fragment shorter than its header, minor version 2, non-zero drep padding."""
    assert not dcerpc.starts_pdu(data, 0, len(data))
    ctx = dissect(eth(0x0800, ipv4(6, tcp(50000, 49700, 0x18, data))), 1)
    assert all(layer.protocol is not dcerpc.MSRPC for layer in ctx.layers)


def _selected(path: str, expr: str) -> list[int]:
    with open_trace(path, use_cache=False) as t:
        cf = compile_filter(expr, trace=t)
        hits = cf.evaluate(t)
        assert cf.last_stats.errors == 0, cf.last_stats.first_error
        return (np.flatnonzero(hits) + 1).tolist()


def _tshark_selected(path: str, ws: str) -> list[int]:
    res = subprocess.run([require_tshark(), "-n", *NO_REASSEMBLY, "-r", path, "-Y", ws, "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True)
    return [int(x) for x in res.stdout.split()]


@pytest.mark.tshark
@pytest.mark.parametrize(("netmon", "ws"), [("MSRPC", "dcerpc"), ("MSRPCE", "dcerpc"), ("DCERPC", "dcerpc"),
                                            ("MSRPC.OpNum == 0", "dcerpc.opnum == 0")])
def test_filters_select_tshark_frames(netmon: str, ws: str, tmp_path: Path) -> None:
    """On the samples and the crafted frames (a response has its request's opnum in both: see
    test_msrpc_memory).  A segment that continues a PDU is ``MSRPC: continued`` here (no PDU header, so no PType) and
    plain TCP data in tshark without reassembly: those frames are compared apart."""
    path = tmp_path / "rpc.pcap"
    write_pcap(path, 1, crafted())
    for p in [*(str(sample(rel)) for rel in SAMPLES), str(path)]:
        assert _selected(p, f"({netmon}) and MSRPC.PType") == _tshark_selected(p, ws), (p, netmon)
        assert _selected(p, f"({netmon}) and !MSRPC.PType") == ([11] if p == str(path) and "OpNum" not in netmon
                                                                else []), (p, netmon)
    assert _selected(str(path), "MSRPC.OpNum == 0") == [5, 8]


def test_index_classification_agrees_with_dissectors(tmp_path: Path) -> None:
    """Port 135, the payload test on a dynamic port, auth verifiers (NTLMSSP) and several PDUs in a
    segment: the vectorised classifier gives the presence bits and Protocol Name the dissectors give."""
    from test_classify import test_fast_path_agrees_with_dissectors

    frames = crafted()
    frames += [eth(0x0800, ipv4(6, tcp(50002, 135, 0x18, bind(4, LSARPC, auth=NTLM_NEGOTIATE)))),
               eth(0x0800, ipv4(6, tcp(135, 50002, 0x18, response(4) + fault(5, 5))))]
    path = tmp_path / "rpc.pcap"
    write_pcap(path, 1, frames)
    test_fast_path_agrees_with_dissectors(path)
    with open_trace(path, use_cache=False) as t:
        assert _selected(str(path), "NTLMSSP") == [7, 12]
        assert len(t) == len(frames)


def smb2(cmd: int, body: bytes, next_command: int = 0) -> bytes:
    return (b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, 0, cmd, 1, 0, next_command, 5) + struct.pack("<IIQ", 0, 1, 9)
            + b"\0" * 16 + body)


def smb2_write(data: bytes) -> bytes:
    return smb2(9, struct.pack("<HHIQ16sIIHHI", 49, 64 + 48, len(data), 0, b"\x01" * 16, 0, 0, 0, 0, 0) + data)


def nbss(message: bytes) -> bytes:
    return struct.pack(">I", len(message)) + message


def test_pipe_data_in_smb2_and_compounds_are_classified_as_the_dissectors_say(tmp_path: Path) -> None:
    """RPC in an SMB2 WRITE to a pipe, alone and as the second message of a compound (ECHO, WRITE):
    the index looks at the first message only, so a compound goes to the dissectors."""
    from test_classify import test_fast_path_agrees_with_dissectors

    echo = smb2(13, b"\x04\0\0\0" + b"\0" * 4, next_command=72)
    segs = [nbss(smb2_write(bind(1, LSARPC) + request(2, 0x2C))), nbss(echo + smb2_write(request(3, 0)))]
    frames = [eth(0x0800, ipv4(6, tcp(50000, 445, 0x18, s))) for s in segs]
    texts = [dissect(f, 1).description for f in frames]
    assert texts[0].startswith("MSRPC:c/o Bind: UUID{12345778-1234-abcd-ef00-0123456789ab} LSARPC")
    assert "; c/o Request: LSARPC LsarOpenPolicy2 (44) Call=0x2 Opnum=0x2C" in texts[0]
    assert texts[1] == "MSRPC:c/o Request: Call=0x3 Opnum=0x0 Context=0x0 Hint=0x8"
    path = tmp_path / "pipe.pcap"
    write_pcap(path, 1, frames)
    test_fast_path_agrees_with_dissectors(path)
    assert _selected(str(path), "MSRPC.OpNum == 0") == [2]
