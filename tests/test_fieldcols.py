"""Field columns (traces/fieldcols.py) against the dissector, the definition.

For every sample (and synthetic VmSwitch ETL and DNS pcap files), every field a builder knows
gets its column, and on every frame the column must agree with the decoded frame: a frame the
column calls present holds exactly that value (and only one instance); a frame it calls absent
has no instance; frames it leaves to decoding are free.  Then filters over the columns must
select what decoding selects, and a reopened trace must load the cached columns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import samples
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.fieldcols import CODE_ABSENT, DECODE, PRESENT, columns_for
from tracemon.traces.fields import FieldType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

PROTO = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"
VMS_FIELDS = [f"{PROTO}.VM_NBL_ROUTE.{f}" for f in ("SrcNicName", "SrcNicFName", "DestNicName", "DestNicFName",
                                                      "SwitchName", "SwitchFName", "BufferAddress")] + \
    [f"{PROTO}.VM_NBL_INCOMING_DROP.DropReason", f"{PROTO}.VM_NBL_INCOMING_DROP.NicFName",
     f"{PROTO}.VM_NBL_RECEIVE.NicFName"]


pytestmark = pytest.mark.usefixtures("etw_names")


@pytest.fixture(scope="module")
def dns_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen_traces import write_pcap

    path = tmp_path_factory.mktemp("dns") / "dns.pcap"
    write_pcap(path, 3000)
    return path


def check_columns(trace, names: list[str]) -> dict[str, int]:
    """Each column of ``names`` agrees with the decoded frames (each frame decoded once);
    returns how many frames each column answers (0: no column)."""
    cols = {}
    for name in names:
        fdef = trace.registry.get(name)
        assert fdef is not None, name
        cols[name] = (fdef, columns_for(trace).get(fdef))
    answered = dict.fromkeys(names, 0)
    if not any(col is not None for _, col in cols.values()):
        return answered
    states = {name: col.states() for name, (_, col) in cols.items() if col is not None}
    for i in range(len(trace)):
        frame = trace.reader.frame(i)
        for name, (fdef, col) in cols.items():
            if col is None:
                continue
            state = int(states[name][i])
            if state == DECODE:
                continue
            if col.is_text:
                code = int(col.codes[i])
                assert (code >= 0) == (state == PRESENT) and code >= CODE_ABSENT, (name, i, code)
                got = [col.table[code]] if code >= 0 else []
            else:
                got = [col.values[i].item()] if state == PRESENT else []
            decoded = [f.value for f in frame.fields(fdef.name)]
            assert got == decoded, (trace.path, name, i + 1, got, decoded)
            answered[name] += 1
    return answered


def test_vmswitch_columns_match_the_decoder(vms_etl: Path) -> None:
    trace = open_trace(vms_etl, use_cache=False)
    answered = check_columns(trace, VMS_FIELDS)
    assert all(n == len(trace) for n in answered.values()), answered  # the walk answers every frame here


def test_dns_question_name_matches_the_dissector(dns_pcap: Path) -> None:
    trace = open_trace(dns_pcap, use_cache=False)
    assert check_columns(trace, ["DNS.QRecord.QuestionName"])["DNS.QRecord.QuestionName"] == len(trace)


def _etw_fields(trace) -> list[str]:
    """Every registry field of the events in an ETL trace (decoded from a sample of its frames)."""
    names: set[str] = set()
    for i in range(0, len(trace), max(1, len(trace) // 300)):
        for layer in trace.reader.frame(i).layers:
            stack = list(layer.fields)
            while stack:
                f = stack.pop()
                stack.extend(f.children)
                if f.fdef is not None and f.fdef.type is not FieldType.PROTOCOL and \
                        not f.fdef.name.startswith(("NetEvent.", "Frame.")):
                    names.add(f.fdef.name)
    return sorted(names)


#: the packet fields with column builders (dnscols, httpcols, tlscols, smb2cols)
PACKET_FIELDS = ["DNS.QRecord.QuestionName", "HTTP.Host", "HTTP.Request.Method", "HTTP.Request.URI",
                 "HTTP.Response.StatusCode", "TLS.TlsRecLayer.TlsRecordLayer.SSLHandshake.HandShake.ClientHello.ServerName",
                 "SMB2.TreeConnect.Path", "SMB2.FileName", "TLS.TlsRecLayer.TlsRecordLayer.ContentType",
                 "SMB2.Header.Status", "SMB2.Header.Status.Code", "HTTP.Response.ProtocolVersion"]


@pytest.mark.parametrize("path", [*samples("etl", ".etl"), *samples("netmon", ".cap"), *samples("pcap", ".pcap"),
                                  *samples("pcapng", ".pcapng")], ids=lambda p: p.name)
def test_every_column_on_every_sample_matches_the_decoder(path: Path) -> None:
    trace = open_trace(path, use_cache=False)
    names = _etw_fields(trace) if trace.format in ("etl", "netmon") else []
    check_columns(trace, [*names[:60], *PACKET_FIELDS])


@pytest.mark.parametrize("expr", [
    f'{PROTO}.VM_NBL_ROUTE.DestNicFName.Contains("vm03")',
    f'{PROTO}.VM_NBL_ROUTE.SwitchName == "8f2a6c1e-4b3d-4e5f-9a0b-1c2d3e4f5a6b"',
    f'{PROTO}.VM_NBL_ROUTE.DestNicFName in ["vm01 Network Adapter", "VM02 NETWORK ADAPTER"]',
    f"{PROTO}.VM_NBL_INCOMING_DROP.DropReason == 0xC000009A",
    f"{PROTO}.VM_NBL_ROUTE.BufferAddress > 0xFFFFC30F4A230000",
    f"{PROTO}.VM_NBL_ROUTE.DestNicFName",
    f'!{PROTO}.VM_NBL_ROUTE.SrcNicFName.Contains("vm1")',
])
def test_filters_over_etw_columns_select_what_decoding_selects(vms_etl: Path, expr: str) -> None:
    trace = open_trace(vms_etl, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert cf.last_stats.decoded == 0, expr
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    assert any("field column" in line for line in cf.explain(trace))


@pytest.mark.parametrize("expr", ['DNS.QRecord.QuestionName.Contains("host17.")',
                                  'DNS.QRecord.QuestionName == "HOST1.corp.example.com"',
                                  'DNS.QRecord.QuestionName in ["host2.corp.example.com", "nothing"]'])
def test_filters_over_dns_names_select_what_decoding_selects(dns_pcap: Path, expr: str) -> None:
    trace = open_trace(dns_pcap, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert cf.last_stats.decoded == 0
    assert fast.any()
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace))


def test_columns_are_cached_beside_the_index_and_mapped_on_reopen(vms_etl: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    name = f"{PROTO}.VM_NBL_ROUTE.DestNicFName"
    first = open_trace(vms_etl)
    col = columns_for(first).get(first.registry.get(name))
    assert col is not None and not isinstance(col.codes, np.memmap)
    again = open_trace(vms_etl)
    assert again.from_cache
    cached = columns_for(again).get(again.registry.get(name))
    assert isinstance(cached.codes, np.memmap)
    assert np.array_equal(cached.codes, col.codes) and cached.table == col.table


def test_an_index_written_behind_keeps_what_the_scan_found_and_the_columns_built_meanwhile(
        dns_pcap: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``open_trace(one_shot=True)`` (one-shot commands): the entry is written on another thread
    while a column is built.  Held before its manifest, the writer leaves the entry unwritten: the
    column is not looked for there, and its own write is queued for after the entry.  What
    happens to the trace meanwhile (a conversation interned by a decode, the trace closed) is not
    in the entry; it is the scan's."""
    import threading

    from tracemon.traces import cache

    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    gate, held = threading.Event(), threading.Event()
    real = cache._write_manifest

    def manifest(tmp: Path, ident: dict) -> None:
        held.set()
        assert gate.wait(60)
        real(tmp, ident)

    monkeypatch.setattr(cache, "_write_manifest", manifest)
    trace = open_trace(dns_pcap, one_shot=True)
    try:
        assert held.wait(60)
        assert cache.field_column_dir(trace) is None  # the entry is not there yet
        n, eth = len(trace), len(trace.eth_conversations)
        trace.eth_conversations.intern((1, 2), 1, 2)  # after the scan: not in the entry
        col = columns_for(trace).get(trace.registry.get("DNS.QRecord.QuestionName"))  # (its write is queued)
        assert col is not None
        assert not list((tmp_path / "cache").rglob("*.codes.npy"))
    finally:
        gate.set()
    cache.wait_stored(trace)
    assert len(list((tmp_path / "cache").rglob("*.codes.npy"))) == 1
    trace.close()
    again = open_trace(dns_pcap)
    assert again.from_cache and len(again) == n and len(again.eth_conversations) == eth
    cached = columns_for(again).get(again.registry.get("DNS.QRecord.QuestionName"))
    assert isinstance(cached.codes, np.memmap) and np.array_equal(cached.codes, col.codes)


def test_a_column_queued_after_a_failed_index_write_is_not_written(
        dns_pcap: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An entry that could not be written takes no column either (and nothing is raised)."""
    import threading

    from tracemon.traces import cache

    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    gate = threading.Event()

    def manifest(tmp: Path, ident: dict) -> None:
        assert gate.wait(60)
        raise OSError("disk full")

    monkeypatch.setattr(cache, "_write_manifest", manifest)
    trace = open_trace(dns_pcap, one_shot=True)
    try:
        assert columns_for(trace).get(trace.registry.get("DNS.QRecord.QuestionName")) is not None
    finally:
        gate.set()
    cache.wait_stored(trace)
    assert "disk full" in trace.facts["cache_error"]
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_a_trace_still_scanning_gets_no_column(dns_pcap: Path) -> None:
    trace = open_trace(dns_pcap, load=False, use_cache=False)
    assert columns_for(trace).get(trace.registry.get("DNS.QRecord.QuestionName")) is None


def test_a_damaged_cached_column_is_built_again(vms_etl: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    name = f"{PROTO}.VM_NBL_ROUTE.DestNicFName"
    first = open_trace(vms_etl)
    col = columns_for(first).get(first.registry.get(name))
    (codes_file,) = (tmp_path / "cache").rglob("*.codes.npy")
    raw = bytearray(codes_file.read_bytes())
    raw[-4:] = (len(col.table) - 1).to_bytes(4, "little")  # a valid code, the wrong one
    codes_file.write_bytes(bytes(raw))
    again = open_trace(vms_etl)
    rebuilt = columns_for(again).get(again.registry.get(name))
    assert not isinstance(rebuilt.codes, np.memmap)
    assert np.array_equal(rebuilt.codes, col.codes)


def test_completion_takes_values_from_a_built_text_column_without_decoding(dns_pcap: Path) -> None:
    from tracemon.filters import complete
    from tracemon.filters.indexed import state_for

    trace = open_trace(dns_pcap, use_cache=False)
    compile_filter('DNS.QRecord.QuestionName == "x"', trace=trace).evaluate(trace)  # builds the column
    text = "DNS.QRecord.QuestionName == "
    got = complete(text, len(text), trace=trace)
    assert any("host1.corp.example.com" in c.text for c in got.candidates)
    assert ("values", "DNS.QRecord.QuestionName") not in state_for(trace).objects  # nothing decoded


def test_a_builder_registered_first_leaves_the_built_in_ones_in() -> None:
    """``register()`` before the first ``plan()`` (a plug-in, a test) must not hide the built-in
    builders: in a fresh interpreter, the DNS name still gets its builder."""
    import subprocess

    code = ("from tracemon.traces import fieldcols\n"
            "from tracemon.traces.fields import REGISTRY\n"
            "fieldcols.register(lambda trace, fdef: None)\n"
            "names = {getattr(p, '__module__', '') + '.' + p.__name__ for p in fieldcols._planners()}\n"
            "print(sorted(n for n in names if n.startswith('tracemon.traces')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "tracemon.traces.dnscols.plan_dns" in out and "tracemon.traces.fieldcols._etw_planner" in out


@pytest.fixture(scope="module")
def web_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen_traces import write_pcap

    return write_pcap(tmp_path_factory.mktemp("web") / "web.pcap", 3000, traffic="web")


@pytest.mark.parametrize("name", ["DNS.QRecord.QuestionName", "HTTP.Host", "HTTP.Request.URI",
                                  "HTTP.Response.StatusCode", "IPv4.TimeToLive"])
def test_a_build_in_small_steps_is_the_build_in_one(web_pcap: Path, monkeypatch: pytest.MonkeyPatch,
                                                    name: str) -> None:
    """Builders work in steps (bounded temporaries, a checkpoint between steps): each step's
    table of distinct texts merges into one, and the column is the same whatever the step."""
    from tracemon.traces import dnscols, fixedcols, httpcols
    from tracemon.traces.fieldcols import plan

    trace = open_trace(web_pcap, use_cache=False)
    fdef = trace.registry.get(name)

    def build() -> tuple[np.ndarray, list]:
        got = plan(trace, fdef)
        assert got is not None, name
        col = got[1]()
        if col.is_text:
            return col.states(), [col.table[c] if c >= 0 else None for c in col.codes.tolist()]
        return col.states(), col.values.tolist()

    whole = build()
    for module in (dnscols, httpcols, fixedcols):
        monkeypatch.setattr(module, "STEP", 3)
    steps = build()
    assert whole[0].tolist() == steps[0].tolist() and whole[1] == steps[1]
    assert (whole[0] == PRESENT).sum() > 3 * 3  # the trace carries the field: several steps
