"""Frame 1 of an ETL file, the log header event, shown field by field: every value equals what
dissect.etl (an independent reader, test oracle only) reads from the same TRACE_LOGFILE_HEADER."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import samples
from tracemon.traces import open_trace
from tracemon.traces.etw.logheader import header_fields

etl = pytest.importorskip("dissect.etl.etl")

ETLS = samples("etl", ".etl")
#: our field label → dissect.etl's TraceLogfileHeader member
SAME = {name: name for name in (
    "BufferSize", "Version", "ProviderVersion", "NumberOfProcessors", "EndTime", "TimerResolution",
    "MaximumFileSize", "LogFileMode", "BuffersWritten", "StartBuffers", "PointerSize", "EventsLost",
    "CpuSpeedInMHz", "BootTime", "PerfFreq", "StartTime", "ReservedFlags")}
SAME["BuffersLost"] = "BufferLost"


@pytest.mark.parametrize("path", ETLS, ids=lambda p: p.name)
def test_the_log_header_event_matches_dissect(path: Path) -> None:
    with path.open("rb") as fh:
        ref = etl.ETL(fh).logfile_header
        want = {ours: getattr(ref.header, theirs) for ours, theirs in SAME.items()}
        want["LoggerName"], want["LogFileName"] = ref.logger_name, ref.log_filename
    with open_trace(path, use_cache=False) as tr:
        frame = tr.frame(0)
    layer = frame.layers[-1]
    got = {f.label: f.value for f in layer.fields}
    assert {k: got.get(k) for k in want} == want
    assert layer.summary == (f"Header, LoggerName = {want['LoggerName']}, EventsLost = {want['EventsLost']}, "
                             f"BuffersLost = {want['BuffersLost']}")
    # every field's bytes are where the details say: the hex view highlights the right ones
    for f in layer.fields:
        if isinstance(f.value, int):
            assert int.from_bytes(frame.data[f.start : f.start + f.length], "little") == f.value, f.label


def test_a_cut_header_is_shown_raw() -> None:
    """A payload too short for TRACE_LOGFILE_HEADER is no header: the caller keeps the raw bytes."""
    assert header_fields(bytes(0x100), 32, 8) is None
    assert header_fields(bytes(0x120), 32, 4) is not None
