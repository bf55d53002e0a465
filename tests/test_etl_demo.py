"""The built-in demo trace: generated once, deterministic, and tells the Hyper-V story it promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tracemon.traces import open_trace
from tracemon.traces.etw import demo
from tracemon.traces.etw.packets import VMSWITCH_GUID
from tracemon.traces.index import DIR_RECEIVE, DIR_SEND, KIND_PACKET


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACEMON_DEMO_DIR", str(tmp_path))
    return tmp_path


def test_generated_once_and_deterministic(demo_dir: Path, tmp_path: Path) -> None:
    p = demo.demo_trace_path()
    assert p.is_file() and p.is_relative_to(demo_dir)
    mtime = p.stat().st_mtime_ns
    assert demo.demo_trace_path() == p and p.stat().st_mtime_ns == mtime  # cached, not rewritten
    other = tmp_path / "again.etl"
    demo.write_demo(other)
    assert other.read_bytes() == p.read_bytes()


def test_regenerated_when_the_generator_changes(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = demo.demo_trace_path()
    monkeypatch.setattr(demo, "GENERATOR_VERSION", demo.GENERATOR_VERSION + 1)
    new = demo.demo_trace_path()
    assert new != old and new.is_file()


def test_the_story(demo_dir: Path) -> None:
    with open_trace(demo.demo_trace_path(), use_cache=False) as tr:
        assert 2000 <= len(tr) <= 5000
        assert not tr.warnings
        vms = [c for c, p in enumerate(tr.providers) if p.guid == str(VMSWITCH_GUID)]
        assert len(vms) == 1
        idx = tr.index
        ev = idx.event_id[idx.provider == vms[0]]
        counts = {int(k): int(v) for k, v in zip(*np.unique(ev, return_counts=True), strict=True)}
        assert counts[54] == 5  # VM_NBL_INCOMING_DROP
        assert counts[56] > 400 and counts[58] >= counts[56]  # every received NBL is delivered
        assert counts[57] >= counts[56]  # floods route to several NICs
        assert {9, 67, 232, 102, 17, 69, 71} <= set(counts)  # switch/port/NIC/VM lifecycle
        recs = [tr.reader.record(int(i)) for i in np.flatnonzero(idx.provider == vms[0])]
        vm_names = {r.payload[4 : 4 + 2 * int.from_bytes(r.payload[:4], "little")].decode("utf-16-le")
                    for r in recs if r.event_id == 102}
        assert vm_names == {"web01", "db01"}
        pk = (idx.kind & KIND_PACKET) != 0
        names = [tr.protocol_names[t] for t in idx.top[pk]]
        assert names.count("ARP") >= 400  # the storm
        assert names.count("DNS") >= 2 and names.count("TCP") >= 20
        assert np.any(pk & ((idx.dirflags & DIR_SEND) != 0)) and np.any(pk & ((idx.dirflags & DIR_RECEIVE) != 0))
        tcp = [int(i) for i in np.flatnonzero(pk) if tr.protocol_names[idx.top[i]] == "TCP"]
        payload = sum(len(tr.frame(i).data) - 54 for i in tcp)
        assert payload > 6000  # a session with data both ways
        assert len({int(c) for c in idx.l4_conv[pk] if c}) >= 3  # DNS, NTP and the TCP session
        names_if = {i.name for i in tr.interfaces}
        assert "eth:7:0" in names_if and any(n.startswith("vNIC:Synthetic:") for n in names_if)
