"""``TCP.Options`` (the standard "TCP options" preset) from the index: the data offset's field
column against the layout table, on every packet sample and on crafted edge cases (options cut
by the capture, a data offset below 20), selecting what decoding selects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import samples
from test_dissect_synthetic import write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.craft import ethernet, ipv4, tcp

EXPRS = ["TCP.Options", "!TCP.Options", "TCP.Options AND TCP.Flags.Ack == 1"]
#: frames of a sample compared with decoding (decoding is the slow reference)
ROWS = 3000


def _check(trace) -> tuple[int, int]:
    """(frames with options, frames decoded) after comparing every expression with decoding."""
    found = decoded = 0
    stop = min(len(trace), ROWS)
    for expr in EXPRS:
        cf = compile_filter(expr, trace=trace)
        fast = cf.evaluate(trace, 0, stop)
        decoded += cf.last_stats.decoded
        assert np.array_equal(fast, cf.evaluate_by_decoding(trace, 0, stop)), (trace.path, expr)
        if expr == "TCP.Options":
            found = int(fast.sum())
    return found, decoded


_SAMPLES = [*samples("pcap", ".pcap"), *samples("pcapng", ".pcapng"), *samples("netmon", ".cap"),
            *(p for p in samples("etl", ".etl") if p.stat().st_size < 5_000_000)]


@pytest.mark.parametrize("path", _SAMPLES, ids=lambda p: p.name)
def test_packet_samples(path: Path) -> None:
    _check(open_trace(path, use_cache=False))


def test_the_samples_hold_tcp_options() -> None:
    """(so the comparison above is not empty: SYNs with MSS, timestamps, SACK)"""
    total = 0
    for path in _SAMPLES:
        trace = open_trace(path, use_cache=False)
        total += int(compile_filter("TCP.Options", trace=trace).evaluate(trace).sum())
    assert total > 50


def _seg(options: bytes, cut: int = 0, doff: int | None = None) -> bytes:
    """An ACK segment whose header carries ``options`` (``doff``: another data offset, in words)."""
    seg = bytearray(tcp("10.0.0.1", "10.0.0.2", 50000, 443, 1, 0, 0x10) + options)
    words = doff if doff is not None else (20 + len(options)) // 4
    seg[12] = (words << 4) | (seg[12] & 0x0F)
    frame = ethernet("020000000001", "020000000002", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, bytes(seg), 1))
    return frame[: len(frame) - cut] if cut else frame


def test_crafted_edges(tmp_path: Path) -> None:
    mss = b"\x02\x04\x05\xb4"
    frames = [_seg(b""), _seg(mss), _seg(mss + b"\x01\x01\x04\x02"), _seg(mss + bytes(8), cut=6),
              _seg(b"", doff=4), _seg(mss, doff=15)]
    path = tmp_path / "opts.pcap"
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    found, _ = _check(trace)
    assert found == 2  # the whole MSS and MSS+NOPs+SACK-permitted; the cut and odd offsets have none


@pytest.mark.parametrize("expr", EXPRS[:2])
def test_no_frame_is_decoded_on_plain_tcp(tmp_path: Path, expr: str) -> None:
    frames = [_seg(b"\x02\x04\x05\xb4" * k) for k in range(4)] * 50
    path = tmp_path / "plain.pcap"
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    got = cf.evaluate(trace)
    assert cf.last_stats.decoded == 0
    assert int(got.sum()) == (150 if expr == "TCP.Options" else 50)
