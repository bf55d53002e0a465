"""Conversation state at scale: the conversation tree's SMB2/HTTP nodes of one big TCP conversation
(what the tree's worker computes when the node is expanded) and MSRPC's per-conversation memory of
binds and calls (built on the first frame that needs it; then filters read responses' opnums), next
to ``tshark -Y`` on the same file.

    python benchmarks/bench_conv_apps.py [--calls 20000] [--no-tshark]

The trace: one SMB2 connection (TREE CONNECT, a CREATE of ``\\pipe\\samr``, then ``--calls`` MSRPC
requests written to the pipe and responses read from it (READ request, response), interleaved with CREATEs of files), and
one HTTP connection with ``--calls`` / 10 requests to 7 hosts.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed, tshark

OUT = Path(__file__).resolve().parent / "out"
SAMR = "12345778-1234-abcd-ef00-0123456789ac"
NDR = "8a885d04-1ceb-11c9-9fe8-08002b104860"


def _ip_tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x18, 8192, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes(map(int, src.split("."))),
                     bytes(map(int, dst.split("."))))
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + tcp


def _smb2(cmd: int, mid: int, tid: int, body: bytes, response: bool = False) -> bytes:
    hdr = b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, 0, cmd, 1, int(response), 0, mid)
    msg = hdr + struct.pack("<IIQ", 0, tid, 9) + b"\0" * 16 + body
    return struct.pack(">I", len(msg)) + msg


def _rpc(ptype: int, call: int, body: bytes) -> bytes:
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, 3, b"\x10\0\0\0", 16 + len(body), 0, call) + body


def _create(mid: int, name: str) -> bytes:
    n = name.encode("utf-16-le")
    return _smb2(5, mid, 1, struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x80, 0, 7, 1, 0, 120, len(n), 0,
                                        0) + n)


def _created(mid: int, fid: int) -> bytes:
    return _smb2(5, mid, 1, struct.pack("<HBBI", 89, 0, 0, 1) + b"\0" * 56 + struct.pack("<QQ", fid, fid)
                 + b"\0" * 8, response=True)


def _write(mid: int, fid: int, data: bytes) -> bytes:
    return _smb2(9, mid, 1, struct.pack("<HHIQQQIIHHI", 49, 112, len(data), 0, fid, fid, 0, 0, 0, 0, 0) + data)


def _read(mid: int, fid: int) -> bytes:
    return _smb2(8, mid, 1, struct.pack("<HBBIQQQIIIHHB", 49, 0, 0, 1024, 0, fid, fid, 0, 0, 0, 0, 0, 0))


def _read_response(mid: int, data: bytes) -> bytes:
    return _smb2(8, mid, 1, struct.pack("<HBBII4x", 17, 80, 0, len(data), 0) + data, response=True)


def segments(calls: int) -> list[tuple[bool, bytes]]:
    """(from the server, SMB2 payload) in order."""
    path = "\\\\srv\\IPC$".encode("utf-16-le")
    out = [(False, _smb2(3, 1, 0, struct.pack("<HHHH", 9, 0, 72, len(path)) + path)),
           (True, _smb2(3, 1, 1, struct.pack("<HBBIII", 16, 2, 0, 0, 0, 0x1F01FF), response=True)),
           (False, _create(2, "samr")), (True, _created(2, 0x77))]
    item = struct.pack("<HBB", 0, 1, 0) + uuid.UUID(SAMR).bytes_le + struct.pack("<HH", 1, 0)
    item += uuid.UUID(NDR).bytes_le + struct.pack("<I", 2)
    out.append((False, _write(3, 0x77, _rpc(11, 1, struct.pack("<HHIB3x", 4280, 4280, 0, 1) + item))))
    mid = 4
    for k in range(calls):
        call = k + 2
        out.append((False, _write(mid, 0x77, _rpc(0, call, struct.pack("<IHH", 8, 0, (7, 64, 34, 36)[k % 4])
                                                     + b"\0" * 8))))
        out.append((False, _read(mid + 1, 0x77)))
        out.append((True, _read_response(mid + 1, _rpc(2, call, struct.pack("<IHBB", 4, 0, 0, 0) + b"\0" * 4))))
        mid += 2
        if k % 10 == 0:
            out.append((False, _create(mid, f"dir\\file{k % 500}.txt")))
            out.append((True, _created(mid, 0x1000 + k)))
            mid += 1
    return out


def write_trace(path: Path, calls: int) -> None:
    seq = {False: 1000, True: 5000}
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        k = 0

        def put(frame: bytes) -> None:
            nonlocal k
            f.write(struct.pack("<IIII", 1_700_000_000 + k // 1000, k % 1000, len(frame), len(frame)) + frame)
            k += 1

        for server, seg in segments(calls):
            ends = ("10.0.0.2", "10.0.0.1", 445, 50000) if server else ("10.0.0.1", "10.0.0.2", 50000, 445)
            put(_ip_tcp(*ends, seq[server], seq[not server], seg))
            seq[server] += len(seg)
        hseq = {False: 1, True: 1}
        for r in range(calls // 10):
            req = f"GET /x{r} HTTP/1.1\r\nHost: host{r % 7}.example\r\n\r\n".encode()
            resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            put(_ip_tcp("10.0.0.1", "10.0.0.3", 50001, 80, hseq[False], hseq[True], req))
            hseq[False] += len(req)
            put(_ip_tcp("10.0.0.3", "10.0.0.1", 80, 50001, hseq[True], hseq[False], resp))
            hseq[True] += len(resp)



def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--no-tshark", action="store_true")
    a = p.parse_args()

    from tracemon.filters import compile_filter
    from tracemon.traces import open_trace
    from tracemon.traces.dissect.core import MEMORIES
    from tracemon.traces.protocols import MASK
    from tracemon.tui import app_nodes, conversations

    OUT.mkdir(exist_ok=True)
    path = OUT / f"conv_apps_{a.calls}.pcap"
    if not path.exists():
        write_trace(path, a.calls)
    rows: list[tuple[str, str, str]] = []
    with open_trace(path, use_cache=False) as t:
        n = len(t)
        smb_conv = int(t.index.l4_conv[0])
        http_conv = int(t.index.l4_conv[n - 1])
        app_nodes.MAX_FRAMES = max(app_nodes.MAX_FRAMES, n)
        for name, cid in (("SMB2", smb_conv), ("HTTP", http_conv)):
            frames = int(np.count_nonzero(t.index.l4_conv == cid))
            scope = conversations.Scope("l4", name, frames, (cid,), True)
            kids, s = timed(lambda scope=scope: conversations.children(t, scope))
            inner = sum(len(k.kids) for k in kids)
            rows.append((f"tree nodes of the {name} conversation ({frames:,} frames)",
                         f"{s:.2f} s ({frames / s:,.0f} frames/s)", f"{len(kids)} nodes, {inner} files"))
        rpc = np.flatnonzero((t.index.protos & np.uint64(MASK["MSRPC"])) != 0)
        last = int(rpc[-1])  # the last MSRPC response
        _, s = timed(lambda: t.frame(last))
        rows.append(("first MSRPC response decoded (memory built)", f"{s:.2f} s", t.frame(last).description[:60]))
        _, s = timed(lambda: t.frame(int(rpc[-3])))
        rows.append(("next MSRPC response decoded (memory kept)", f"{s * 1000:.2f} ms", ""))
    for label, expr in (("MSRPC.OpNum == 64 (responses by memory)", "MSRPC.OpNum == 64"),):
        with open_trace(path, use_cache=False) as t:
            hits, s = timed(lambda t=t, expr=expr: compile_filter(expr, trace=t).evaluate(t))
            rows.append((f"filter {label}", f"{s:.2f} s", f"{int(hits.sum()):,} frames"))
        saved = MEMORIES.pop("msrpc")
        try:
            with open_trace(path, use_cache=False) as t:
                hits, s = timed(lambda t=t, expr=expr: compile_filter(expr, trace=t).evaluate(t))
                rows.append(("  the same without the memory (requests only)", f"{s:.2f} s",
                             f"{int(hits.sum()):,} frames"))
        finally:
            MEMORIES["msrpc"] = saved
    exe = shutil.which("tshark")
    if exe and not a.no_tshark:
        got = tshark(path, "dcerpc.opnum == 64")
        if got is not None:
            rows.append(("tshark -Y 'dcerpc.opnum == 64'", f"{got[0]:.2f} s", f"{got[1]:,} frames"))
    print(f"{path.name}: {n:,} frames")
    w = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"{label:<{w}}  {value:>28}  {note}")


if __name__ == "__main__":
    main()
