"""A field shown or sorted as a list column, read from its field column (traces/coltext.py),
against the decoded frames (the definition): every cell's text, and the order of a sort both
ways, on a synthetic VmSwitch ETL (text, NTSTATUS and hex numbers) and a DNS pcap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tracemon.traces import open_trace
from tracemon.traces.coltext import decoder, field_texts, sort_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

PROTO = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"
SWITCH = f"{PROTO}.VM_NBL_ROUTE.SwitchName"


pytestmark = pytest.mark.usefixtures("etw_names")


@pytest.fixture(scope="module")
def dns_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen_traces import write_pcap

    return write_pcap(tmp_path_factory.mktemp("dns") / "dns.pcap", 3000)


def opened(path: Path):
    trace = open_trace(str(path), use_cache=False)
    for _ in trace.scan():
        pass
    return trace


@pytest.mark.parametrize(("which", "name", "by_frame"), [
    ("vms", SWITCH, False),
    ("vms", f"{PROTO}.VM_NBL_ROUTE.DestNicFName", False),
    ("vms", f"{PROTO}.VM_NBL_INCOMING_DROP.DropReason", True),  # "0xC000009A (STATUS_…)"
    ("vms", f"{PROTO}.VM_NBL_ROUTE.BufferAddress", True),  # hex
    ("dns", "DNS.QRecord.QuestionName", False),
])
def test_texts_and_sort_order_equal_the_decoded_frames(vms_etl: Path, dns_pcap: Path, which: str, name: str,
                                                       by_frame: bool) -> None:
    trace = opened(vms_etl if which == "vms" else dns_pcap)
    texts = field_texts(trace, name)
    assert texts is not None and texts.by_frame == by_frame
    decoded = decoder(trace, name)
    want = [decoded(i) for i in range(len(trace))]
    got = [texts.text(i) for i in range(len(trace))]
    assert sum(g is not None for g in got) > len(trace) // 10  # the column answers most rows
    assert all(g is None or g == w for g, w in zip(got, want, strict=True))
    rows = np.arange(len(trace))
    ranks = texts.ranks(rows)
    assert ranks is not None
    keys = [sort_key(t) for t in want]
    for descending in (False, True):
        order = rows[np.argsort(-ranks if descending else ranks, kind="stable")]
        assert order.tolist() == sorted(range(len(trace)), key=keys.__getitem__, reverse=descending)
    # a subset of the rows (a filtered list) sorts the same way
    sub = rows[::7]
    r = texts.ranks(sub)
    assert r is not None
    sub_keys = [keys[i] for i in sub]
    assert sub[np.argsort(r, kind="stable")].tolist() == [int(sub[k]) for k in sorted(range(len(sub)),
                                                                                      key=sub_keys.__getitem__)]
    trace.close()


def test_a_field_by_its_last_name_alone_is_a_column_when_one_field_has_it_else_a_hint(vms_etl: Path) -> None:
    def run(cols: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracemon.tui.cli", "list", str(vms_etl), "--columns", cols,
                               "--limit", "40"], check=False, capture_output=True, text=True, timeout=120)

    full = run(f"number,{SWITCH}")
    assert full.returncode == 0 and "8F2A6C1E-4B3D-4E5F-9A0B-1C2D3E4F5A6B" in full.stdout
    bare = run("number,SwitchName")  # many VmSwitch events have one: the message names them
    assert bare.returncode != 0 and f"{PROTO}.Event_100.SwitchName" in bare.stderr and "fields)?" in bare.stderr
    one = run("number,IpsecOffloadInboundDropReason")  # one event has it: that field is the column
    assert one.returncode == 0 and f"{PROTO}.VM_IPSEC_OFFLOAD_INBOUND_DROPPED.IpsecOffloadInboundDropReason" \
        in one.stdout.splitlines()[0]
