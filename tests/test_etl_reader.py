"""The ETL reader against independent measurements (dissect.etl counts in samples/measurements)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, sample, samples
from tracemon.traces import open_trace
from tracemon.traces.etw.reader import EtlReader, detect
from tracemon.traces.index import KIND_EVENT, KIND_PACKET

ETLS = samples("etl", ".etl")
MEASURED = SAMPLES / "measurements"


def _measurement(path: Path) -> dict:
    m = MEASURED / f"{path.name}.json"
    if not m.exists():
        pytest.skip(f"no measurement for {path.name}")
    return json.loads(m.read_text("utf-8"))["dissect"]


def _key(rec) -> str:
    guid = str(rec.provider)
    if rec.kind_name.startswith(("SYSTEM", "COMPACT", "PERFINFO")):
        return f"{guid} hook=0x{rec.hook_id:04x}"
    if rec.kind_name.startswith(("FULL", "INSTANCE")):
        return f"{guid} classic"
    return f"{guid} id={rec.event_id}"


def _utc(text: str) -> int:
    t = dt.datetime.fromisoformat(text)
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def test_every_sample_is_detected_and_opens() -> None:
    assert ETLS, "no ETL samples found"
    for path in ETLS:
        head = path.read_bytes()[:128]
        assert detect(head), path.name
        with open_trace(path, use_cache=False) as tr:
            assert tr.format == "etl"
            assert isinstance(tr.reader, EtlReader)
            assert len(tr) > 0
            assert not [w for w in tr.warnings if w.frames_kept is not None or "offset" in w.cause]


@pytest.mark.parametrize("path", ETLS, ids=[p.name for p in ETLS])
def test_counts_per_provider_and_event_match_dissect(path: Path) -> None:
    want = _measurement(path)
    with open_trace(path, use_cache=False) as tr:
        assert len(tr) == want["events"]
        reader = tr.reader
        order = np.argsort(tr.index.loc, kind="stable")  # buffer order: each buffer inflates once
        got = Counter(_key(reader.record(int(i))) for i in order)
        assert dict(got) == want["by_provider_event"]
        lg = want["logfile"]
        assert tr.facts["pointer_size"] == lg["pointer_size"]
        assert tr.facts["buffers_written"] == lg["buffers_written"]
        # dissect.etl reports the first buffer's size (the log header says the session's)
        assert reader.buffers[0].disk_size == lg["buffer_size"]


@pytest.mark.parametrize("path", ETLS, ids=[p.name for p in ETLS])
def test_first_and_last_timestamps_match_dissect(path: Path) -> None:
    want = _measurement(path)
    with open_trace(path, use_cache=False) as tr:
        ts = tr.index.ts
        assert bool(np.all(ts[1:] >= ts[:-1])), "index not in time order"
        assert abs(int(ts[0]) // 1000 - _utc(want["first"])) <= 1
        assert abs(int(ts[-1]) // 1000 - _utc(want["last"])) <= 1
        assert abs(tr.first_time_ns // 1000 - _utc(want["logfile"]["start"])) <= 1


def test_index_rows_are_events_with_provider_codes() -> None:
    with open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False) as tr:
        idx = tr.index
        assert bool(np.all(idx.kind & KIND_EVENT))
        assert int(np.count_nonzero(idx.kind & KIND_PACKET)) == 3646
        pktmon = [c for c, p in enumerate(tr.providers) if p.guid == "4d4f80d9-c8bd-4d73-bb5b-19c90402c5ac"]
        assert len(pktmon) == 1
        assert int(np.count_nonzero(idx.provider == pktmon[0])) == 4514
        assert tr.index.nbytes / len(tr) <= 64


def test_logfile_header_facts() -> None:
    with open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False) as tr:
        f = tr.facts
        # the values `pktmon format` prints for the header event (PktMon.txt beside the sample)
        assert f["os_build"] == 19042
        assert f["number_of_processors"] == 4
        assert f["perf_freq"] == 10000000
        assert f["clock_type"] == "QPC"
        assert f["cpu_speed_mhz"] == 2396
        assert f["logger_name"] == "Relogger"
        assert f["log_file_name"] == r"C:\Users\Nathaniel\Desktop\temp\PktMon.etl"
        assert f["compressed_buffers"] == 4


def test_frames_after_an_index_cache_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    path = sample("etl/pktmon_vpn_20210601.etl")
    with open_trace(path) as first:
        assert not first.from_cache
        rows = [0, 5, int(np.flatnonzero(first.index.kind & KIND_PACKET)[-1]), len(first) - 1]
        want = [(f.timestamp_ns, f.data, f.protocol_name, f.description, f.interface) for f in map(first.frame, rows)]
        names = [i.name for i in first.interfaces]
    with open_trace(path) as again:
        assert again.from_cache
        got = [(f.timestamp_ns, f.data, f.protocol_name, f.description, f.interface) for f in map(again.frame, rows)]
        assert got == want
        assert [i.name for i in again.interfaces] == names
        assert again.reader.record(rows[2]).event_id == 160
