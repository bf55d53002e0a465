"""Mutated and truncated Netmon files: the reader raises only TraceError, and every frame it
keeps decodes.  Seeds: every Netmon sample (genuine 2.3 with NetEvent frames and comments),
crafted 1.x and 2.2 files with comment and process tables, and the Netmon 1.x/2.x files
editcap writes from the pcap/pcapng samples."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from conftest import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netmon_craft import ARP, RTF, UDP, Proc, Rec, netevent, write
from netmon_craft import START_NS as T0
from test_netmon_tshark import SOURCES, converted
from tracemon.traces import open_trace
from tracemon.traces.errors import TraceError


@functools.lru_cache(maxsize=1)
def _crafted() -> tuple[Path, ...]:
    folder = Path(tempfile.mkdtemp(prefix="tracemon-netmon-fuzz-"))
    from tracemon.traces.etw.writer import VMSWITCH_GUID

    event = netevent(VMSWITCH_GUID, 54, b"\x08\x00A\x00B\x00\x00\x00" * 3, pid=4, tid=8, ts_ns=T0)
    recs = [Rec(ARP, T0, process=0), Rec(UDP, T0 + 1000, process=1), Rec(event, T0 + 2000, media=0xFFE0)]
    procs = [Proc("C:\\a.exe", 10), Proc("C:\\b.exe", 20, "2001:db8::1", "2001:db8::2")]
    out = []
    for version, header in (((1, 1), 128), ((2, 2), 72), ((2, 3), 72)):
        path = folder / f"crafted_{version[0]}{version[1]}.cap"
        write(path, recs if version >= (2, 1) else recs[:2], version=version, header=header,
              comments=[(0, "title", RTF)] if version >= (2, 2) else (), processes=procs if version >= (2, 2) else ())
        out.append(path)
    return tuple(out)


SEEDS = [*(p.name for p in samples("netmon", ".cap")), "crafted_11.cap", "crafted_22.cap", "crafted_23.cap",
         *(f"{src.name}.{fmt}" for src in SOURCES[:2] for fmt in ("netmon1", "netmon2"))]


def seed(name: str) -> Path:
    for p in samples("netmon", ".cap"):
        if p.name == name:
            return p
    for p in _crafted():
        if p.name == name:
            return p
    stem, _, fmt = name.rpartition(".")
    src = next(s for s in SOURCES if s.name == stem)
    path = converted(src, fmt)
    if path is None:
        pytest.skip(f"editcap cannot write {src.name} as {fmt}")
    return path


def _mutations() -> st.SearchStrategy:
    # anywhere, in the file header, or near the end (the frame table and the optional tables)
    where = st.one_of(st.integers(0, 1 << 21), st.integers(0, 127), st.integers(-4096, -1))
    return st.lists(st.tuples(where, st.integers(0, 255)), min_size=1, max_size=12)


@pytest.mark.parametrize("name", SEEDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations(), cut=st.integers(0, 100))
def test_mutated_and_truncated_netmon_files(name: str, tmp_path: Path, mutations: list[tuple[int, int]],
                                           cut: int) -> None:
    data = bytearray(seed(name).read_bytes())
    for pos, value in mutations:
        data[pos % len(data)] = value
    if cut < 40:
        data = data[: len(data) * (cut + 60) // 100]
    p = tmp_path / "fuzz.cap"
    p.write_bytes(bytes(data))
    try:
        trace = open_trace(p, use_cache=False)
    except TraceError as e:
        assert str(p) in str(e)
        return
    for w in trace.warnings:
        assert str(p) in w.message
    for i in range(min(len(trace), 60)):
        frame = trace.frame(i)
        assert isinstance(frame.description, str)
        for layer in frame.layers:
            for f in layer.walk():
                assert f.start < 0 or f.start + f.length <= len(frame.data), (f.name, f.start, f.length)
        assert all(isinstance(c, str) for c in frame.comments)
