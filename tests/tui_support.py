"""Helpers for the TUI tests: a fast deterministic pcap writer and Pilot conveniences."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

T0 = 1_700_000_000  # seconds: 2023-11-14 22:13:20 UTC


def write_udp_pcap(path: Path, n: int) -> Path:
    """``n`` Ethernet/IPv4/UDP frames of 60 bytes, one per millisecond, written with NumPy.

    Frame k: 10.0.(k // 256 % 4).(k % 256) → 192.168.1.(k % 50 + 1), UDP (1024 + k % 5000) → 53 when
    k is even, 443 when odd.  Every 1000th frame is TCP with RST set instead (so there is something to
    find and something the timeline marks).
    """
    rec = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("cap", "<u4"), ("orig", "<u4"), ("data", "u1", (60,))])
    arr = np.zeros(n, dtype=rec)
    k = np.arange(n, dtype=np.int64)
    ms = k  # one frame per millisecond
    arr["sec"] = T0 + ms // 1000
    arr["usec"] = (ms % 1000) * 1000
    arr["cap"] = 60
    arr["orig"] = 60
    tmpl = bytearray(60)
    tmpl[0:6] = bytes.fromhex("00155d000001")
    tmpl[6:12] = bytes.fromhex("00155d000002")
    tmpl[12:14] = b"\x08\x00"
    tmpl[14:34] = struct.pack("!BBHHHBBHII", 0x45, 0, 46, 0, 0x4000, 64, 17, 0, 0, 0)
    tmpl[34:42] = struct.pack("!HHHH", 0, 0, 26, 0)
    data = arr["data"]
    data[:] = np.frombuffer(bytes(tmpl), dtype=np.uint8)
    data[:, 26] = 10
    data[:, 27] = 0
    data[:, 28] = (k // 256) % 4
    data[:, 29] = k % 256
    data[:, 30] = 192
    data[:, 31] = 168
    data[:, 32] = 1
    data[:, 33] = k % 50 + 1
    sport = 1024 + k % 5000
    dport = np.where(k % 2 == 0, 53, 443)
    data[:, 34] = sport >> 8
    data[:, 35] = sport & 255
    data[:, 36] = dport >> 8
    data[:, 37] = dport & 255
    data[:, 18] = (k >> 8) & 255  # IP identification
    data[:, 19] = k & 255
    tcp = k % 1000 == 999
    # TCP RST: protocol 6, a 20-byte header instead of UDP (the frame stays 60 bytes)
    data[tcp, 23] = 6
    data[tcp, 16] = 0
    data[tcp, 17] = 46
    data[tcp, 38:46] = 0
    data[tcp, 46] = 0x50
    data[tcp, 47] = 0x14  # RST + ACK
    data[tcp, 48] = 0xFF
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(arr.tobytes())
    return path


def truncated_copy(src: Path, dst: Path, cut: int) -> Path:
    """``src`` with its last ``cut`` bytes removed (a capture that was still being written)."""
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) - cut])
    return dst


async def idle_workers(app) -> None:
    """Wait for the app's workers; a worker replaced by a newer one (exclusive) counts as done."""
    from textual.worker import WorkerCancelled

    for _ in range(50):
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def settle(app, pilot, rounds: int = 3) -> None:
    """Wait until workers are idle and the screen has repainted."""
    for _ in range(rounds):
        await pilot.pause(0.05)
        await idle_workers(app)
    await pilot.pause(0.05)


def async_test(fn):
    """Run an ``async def`` test with asyncio (no pytest-asyncio in the dependencies)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def tree_nodes(tree) -> list:
    """Every node of a Textual Tree below its root, depth first."""
    stack, out = list(tree.root.children), []
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out
