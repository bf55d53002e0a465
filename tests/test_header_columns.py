"""ETW header values in the index: every ``NetEvent.Header.*`` condition on a real ETL sample is
decided from index columns, and agrees with the decoded frames (the definition)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import samples
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.filters import compile_filter
from tracemon.filters.operands import FrameCtx
from tracemon.traces import open_trace
from tracemon.traces.index import BYTES_PER_FRAME

HEADER = ["NetEvent.Header.Descriptor.Level", "NetEvent.Header.Descriptor.Opcode",
          "NetEvent.Header.Descriptor.Version", "NetEvent.Header.Descriptor.Channel",
          "NetEvent.Header.Descriptor.Task", "NetEvent.Header.Descriptor.Keyword",
          "NetEvent.Header.ThreadId", "NetEvent.Header.ProcessId"]
#: rows compared with decoding per file (decoding is the slow reference)
ROWS = 1000


def decoded_matches(cf, trace, frames: list) -> np.ndarray:
    """The decoding path's answer for frames decoded once (``CompiledFilter.evaluate_by_decoding``
    decodes every frame again for every expression)."""
    out = []
    for i, frame in enumerate(frames):
        ctx = FrameCtx(trace, i)
        ctx._frame = frame
        out.append(cf.root.test(ctx))
    return np.array(out, dtype=bool)


def test_the_index_stays_within_64_bytes_a_frame() -> None:
    assert BYTES_PER_FRAME <= 64


def _with_events() -> list:
    """ETL samples, and the Netmon samples holding NetEvent frames (their own EVENT_HEADER copy)."""
    return [*samples("etl", ".etl"), *(p for p in samples("netmon", ".cap") if "ADFSOD_Example1" in p.name
                                       or "CCROD_Example2Peer1" in p.name)]


@pytest.mark.parametrize("path", _with_events(), ids=lambda p: p.name)
def test_header_conditions_come_from_the_index_and_match_decoding(path) -> None:
    trace = open_trace(path, use_cache=False)
    stop = min(len(trace), ROWS)
    frames = [trace.reader.frame(i) for i in range(stop)]
    for name in HEADER:
        values: set[int] = set()
        for frame in frames[:: max(1, stop // 40)]:
            values.update(f.value for f in frame.fields(name))
        exprs = [name, f"{name} <= 2", *(f"{name} == {v}" for v in sorted(values)[:3])]
        for expr in exprs:
            cf = compile_filter(expr, trace=trace)
            fast = cf.evaluate(trace, 0, stop)
            assert cf.last_stats.decoded == 0, expr
            slow = decoded_matches(cf, trace, frames)
            assert np.array_equal(fast, slow), (path.name, expr, np.flatnonzero(fast != slow)[:5])



@pytest.mark.parametrize("path", _with_events(), ids=lambda p: p.name)
def test_provider_conditions_come_from_the_index_and_match_decoding(path) -> None:
    """``NetEvent.Header.ProviderId`` (the Netmon way to pick a provider by GUID) is answered from
    the index's provider column, and selects what decoding selects."""
    trace = open_trace(path, use_cache=False)
    stop = min(len(trace), ROWS)
    frames = [trace.reader.frame(i) for i in range(stop)]
    name = "NetEvent.Header.ProviderId"
    values = sorted({str(f.value) for frame in frames for f in frame.fields(name)})
    assert values, path.name
    exprs = [name, f"!{name}", *(f"{name} == {{{v}}}" for v in values[:4]),
             f"{name} != {{{values[0]}}}", f"{name} in [{{{values[0]}}}, {{{values[-1]}}}]"]
    decoded = 0
    for expr in exprs:
        cf = compile_filter(expr, trace=trace)
        fast = cf.evaluate(trace, 0, stop)
        decoded += cf.last_stats.decoded
        slow = decoded_matches(cf, trace, frames)
        assert np.array_equal(fast, slow), (path.name, expr, np.flatnonzero(fast != slow)[:5])
    assert decoded <= len(exprs) * _wpp_rows(trace, stop)  # only WPP messages are decoded


def _wpp_rows(trace, stop: int) -> int:
    from tracemon.traces.index import FAMILY_MESSAGE

    table = np.array([d[0] for d in trace.descriptors] or [0])
    desc = trace.index.column("desc")[:stop].astype(np.int64)
    fam = table[np.minimum(desc, len(table) - 1)]
    return int(((fam == FAMILY_MESSAGE) | (desc == 0)).sum())


def test_the_readme_example_runs_from_the_index() -> None:
    path = max(samples("etl", ".etl"), key=lambda p: p.stat().st_size)
    trace = open_trace(path, use_cache=False)
    cf = compile_filter("NetEvent.Header.Descriptor.Level <= 2", trace=trace)
    cf.evaluate(trace)
    assert cf.last_stats.decoded == 0
    assert not cf.uses_decode or cf.explain()  # the explanation exists either way


def test_descriptors_past_the_table_limit_are_left_to_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemon.traces.trace as trace_module

    path = min(samples("etl", ".etl"), key=lambda p: p.stat().st_size)
    monkeypatch.setattr(trace_module, "MAX_DESCRIPTORS", 1)
    trace = open_trace(path, use_cache=False)
    assert len(trace.descriptors) == 2  # row 0 and the one combination that fitted
    desc = trace.index.column("desc")
    assert (desc == 0).any() and (desc == 1).any()
    cf = compile_filter("NetEvent.Header.Descriptor.Task <= 2", trace=trace)
    fast = cf.evaluate(trace)
    assert cf.last_stats.decoded == int((desc == 0).sum())  # the others decode
    frames = [trace.reader.frame(i) for i in range(len(trace))]
    assert np.array_equal(fast, decoded_matches(cf, trace, frames))


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.integers(0, 2), st.integers(0, 17),
                                           st.sampled_from([0, 1, 255, 256, 65535]),
                                           st.sampled_from([0, 1, 2**63, 2**64 - 1, 0x80])),
                                 max_size=40), max_size=4))
def test_descriptor_codes_name_each_records_combination(batches: list[list[tuple[int, ...]]]) -> None:
    """Every record's ``desc`` code is the position of its own (family, version, channel, task,
    keyword) in ``Trace.descriptors``, across batches; each combination is numbered once."""
    trace = open_trace(min(samples("etl", ".etl"), key=lambda p: p.stat().st_size), use_cache=False)
    for batch in batches:
        cols = [np.array([r[k] for r in batch], dtype=dt) for k, dt in
                enumerate((np.uint8, np.uint16, np.uint8, np.uint32, np.uint64))]
        codes = trace.descriptor_codes(*cols)
        assert [trace.descriptors[c] for c in codes.tolist()] == [tuple(r) for r in batch]
    assert len(set(trace.descriptors)) == len(trace.descriptors)
