"""Evaluation: the index path agrees with decoding every frame, on every sample; filter semantics.

``CompiledFilter.evaluate`` answers from index columns where it can and decodes the rest;
``evaluate_by_decoding`` decodes every frame and applies the definition.  They must agree on
every frame of every sample (real pcap, pcapng, Netmon and ETL files, and the Hyper-V demo trace
written by the ETL writer), for every leaf condition and for generated combinations.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.filters import compile_filter
from tracemon.filters.indexed import state_for
from tracemon.traces import open_trace
from tracemon.traces.frame import mac_text
from tracemon.traces.protocols import MASK

from tests.conftest import SAMPLES

#: frames decoded per sample in the exhaustive agreement test (the big ETL samples are cut)
MAX_FRAMES = 3000


def _sample_paths() -> list[Path]:
    out = []
    for kind in ("pcap", "pcapng", "netmon", "etl"):
        folder = SAMPLES / kind
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap", ".etl"))
    return out


class _Decoded:
    """A trace whose frames are decoded once (the tests decode the same frames for ~100 filters)."""

    def __init__(self, trace: Any) -> None:
        self._trace = trace
        self._frames: dict[int, Any] = {}
        self.reader = _DecodedReader(self)

    def frame(self, i: int) -> Any:
        f = self._frames.get(i)
        if f is None:
            f = self._frames[i] = self._trace.reader.frame(i)
        return f

    def __len__(self) -> int:
        return len(self._trace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trace, name)


class _DecodedReader:
    """The trace's reader, its frames from the decoded trace's memory."""

    def __init__(self, owner: _Decoded) -> None:
        self._owner = owner

    def frame(self, i: int) -> Any:
        return self._owner.frame(i)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner._trace.reader, name)


@cache
def _trace(path: str) -> Any:
    return _Decoded(open_trace(path, use_cache=False))


@lru_cache(maxsize=1)
def _demo_path() -> str:
    import tempfile

    from tracemon.traces.etw.demo import write_demo

    path = Path(tempfile.mkdtemp(prefix="tracemon-demo-")) / "demo.etl"
    write_demo(path)
    return str(path)


TRACES = [str(p) for p in _sample_paths()] + ["demo"]


def trace_of(name: str) -> Any:
    return _trace(_demo_path() if name == "demo" else name)


def _ids(name: str) -> str:
    return Path(name).name


# -- the vocabulary of leaf conditions for one trace -------------------------------------------

def _ip(fam: int, v: int) -> str:
    return str(ipaddress.IPv4Address(v) if fam == 4 else ipaddress.IPv6Address(v))


def leaves(trace: Any) -> list[str]:
    """Conditions over this trace: every index fast path with values that occur in it, plus
    decode-only fields, pseudo-fields and ETW names of its providers."""
    out = [name for name in MASK] + ["TCP.Options", "DNS.QRecord", "ICMP.ErrorPacket", "Frame", "Payload"]
    ipc, l4c, ethc = trace.ip_conversations, trace.l4_conversations, trace.eth_conversations
    for cid in range(1, min(len(ipc.a), 6)):
        fam = ipc.proto[cid]
        a, b = _ip(fam, ipc.a[cid]), _ip(fam, ipc.b[cid])
        v = f"IPv{fam}"
        out += [f"{v}.Address == {a}", f"{v}.SourceAddress == {b}", f"{v}.DestinationAddress == {a}",
                f"{v}.Address != {b}", f"{v}.SourceAddress > {a}", f"{v}.Address in [{a}, {b}]"]
        if fam == 4:
            net = ipaddress.IPv4Network(f"{a}/16", strict=False)
            out.append(f"IPv4.Address in {net}")
    out += ["IPv6.Address in ff00::/8", "IPv4.DestinationAddress in 224.0.0.0/4"]
    for cid in range(1, min(len(l4c.a), 6)):
        proto = "TCP" if l4c.proto[cid] == 6 else "UDP"
        out += [f"{proto}.Port == {l4c.a[cid]}", f"{proto}.SrcPort == {l4c.b[cid]}",
                f"{proto}.DstPort <= {l4c.a[cid]}", f"{proto}.Port != {l4c.b[cid]}"]
    for cid in range(1, min(len(ethc.a), 4)):
        out += [f"Ethernet.Address == {mac_text(ethc.a[cid])}", f"Ethernet.SourceAddress == {mac_text(ethc.b[cid])}"]
    out += ["Ethernet.DestinationAddress.Group == 1", "Ethernet.DestinationAddress == FF-FF-FF-FF-FF-FF"]
    for flag in ("Syn", "Ack", "Rst", "Fin", "Psh"):
        out += [f"TCP.Flags.{flag} == 1", f"TCP.Flags.{flag} == 0", f"TCP.Flags.{flag}"]
    n = len(trace)
    out += [f"FrameVariable.FrameNumber < {n // 2}", "FrameVariable.TimeDelta > 10000",
            "FrameVariable.TimeOffset >= 0", "Frame.FrameNumber <= 3", "Frame.CapturedFrameLength > 100",
            "Property.TCPRetransmit", "Property.TCPRetransmit == 0", "Property.TCPSynRetransmit",
            "Property.TCPSynUnanswered == 1", "Property.TCPPayloadLength > 0", "Conversation.ProcessId",
            "Conversation.ProcessId == 4", 'Conversation.ProcessName.Contains("svc")',
            "ContainsBin(FrameData, ASCII, \"HTTP\")", 'contains "host"', "contains $[0000]",
            'DNS.QRecord.QuestionName.Contains("com")', 'Description.Contains("Query")', "IPv4.TotalLength > 500",
            "NetEvent.Header.Descriptor.Level == 4", "NetEvent.Header.Descriptor.Level",
            "NetEvent.Header.Descriptor.Opcode == 0", "NetEvent.Header.ProcessId", "NetEvent.Header.ProcessId == 4",
            "*Address == 10.0.0.1", "*Port == 53"]
    names = sorted({x for x in trace.protocol_names if x})
    out += [f'ProtocolName == "{x}"' for x in names[:6]]
    ids = np.unique(trace.index.column("event_id")[(trace.index.column("kind") & 2) != 0])
    out += [f"NetEvent.Header.Descriptor.Id == {int(i)}" for i in ids[:4]]
    reg = trace.registry
    for p in trace.providers[1:]:
        if p.protocol:
            out.append(p.protocol)  # schema-less providers (ETW_<guid>) too
            out += [c.name for c in reg.children(p.protocol) if c.meta and "event_id" in c.meta][:4]
    return out


def _window(trace: Any) -> tuple[int, int]:
    return 0, min(len(trace), MAX_FRAMES)


@pytest.mark.parametrize("name", TRACES, ids=_ids)
def test_index_path_agrees_with_decoding_on_every_frame(name: str) -> None:
    trace = trace_of(name)
    start, stop = _window(trace)
    decoded_leaves = 0
    for expr in leaves(trace):
        cf = compile_filter(expr, trace=trace)
        fast = cf.evaluate(trace, start, stop)
        assert cf.last_stats.errors == 0, (expr, cf.last_stats.first_error)
        slow = cf.evaluate_by_decoding(trace, start, stop)
        bad = np.flatnonzero(fast != slow)
        assert not len(bad), f"{expr}: frames {(bad + start + 1)[:10].tolist()} differ (index {fast[bad[0]]})"
        decoded_leaves += cf.last_stats.decoded < (stop - start)
    assert decoded_leaves, "no leaf was answered from the index"


# -- generated combinations ----------------------------------------------------------------------

def _combos(vocab: list[str]) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(vocab)
    return st.recursive(leaf, lambda c: st.one_of(
        c.map(lambda x: f"!({x})"),
        st.tuples(c, c).map(lambda ab: f"({ab[0]}) AND ({ab[1]})"),
        st.tuples(c, c).map(lambda ab: f"({ab[0]}) OR ({ab[1]})"),
    ), max_leaves=5)


@pytest.mark.parametrize("name", [t for t in TRACES if not t.endswith("net452_x64.etl")], ids=_ids)
def test_generated_filters_agree_and_obey_de_morgan(name: str) -> None:
    trace = trace_of(name)
    vocab = leaves(trace)
    n = len(trace)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_combos(vocab), st.sampled_from(vocab), st.sampled_from(vocab),
           st.integers(0, max(0, n - 1)), st.integers(1, 400))
    def check(expr: str, a: str, b: str, start: int, size: int) -> None:
        stop = min(n, start + size)
        cf = compile_filter(expr, trace=trace)
        assert (cf.evaluate(trace, start, stop) == cf.evaluate_by_decoding(trace, start, stop)).all(), expr
        # NOT (a OR b) == NOT a AND NOT b, on real frames, both paths
        lhs = compile_filter(f"NOT (({a}) OR ({b}))", trace=trace)
        rhs = compile_filter(f"NOT ({a}) AND NOT ({b})", trace=trace)
        assert (lhs.evaluate(trace, start, stop) == rhs.evaluate(trace, start, stop)).all(), (a, b)
        assert (lhs.evaluate_by_decoding(trace, start, stop) == rhs.evaluate_by_decoding(trace, start, stop)).all()

    check()


# -- semantics ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pcap() -> Any:
    path = SAMPLES / "pcap" / "tcpreplay_test.pcap"
    if not path.exists():
        pytest.skip("sample missing")
    return trace_of(str(path))


def _values(trace: Any, i: int, name: str) -> list[Any]:
    return trace.frame(i).values(name)


def test_pair_fields_match_either_side_and_ne_is_not_eq(pcap: Any) -> None:
    src = np.array([bool(_values(pcap, i, "IPv4.SourceAddress")) and
                    _values(pcap, i, "IPv4.SourceAddress")[0] == 0xAC100B0C for i in range(len(pcap))])
    either = compile_filter("IPv4.Address == 172.16.11.12", trace=pcap).evaluate(pcap)
    just_src = compile_filter("IPv4.SourceAddress == 172.16.11.12", trace=pcap).evaluate(pcap)
    assert (just_src == src).all() and (either >= src).all() and either.sum() > src.sum()
    ne = compile_filter("IPv4.Address != 172.16.11.12", trace=pcap).evaluate(pcap)
    assert (ne == ~either).all()  # including frames without IPv4 (ARP, IPv6)
    has_ip = compile_filter("IPv4", trace=pcap).evaluate(pcap)
    assert (ne & ~has_ip).any()
    tilde = compile_filter("IPv4.Address ~= 172.16.11.12", trace=pcap).evaluate(pcap)
    assert (tilde == (has_ip & ~either)).all()  # Message Analyzer's ~=: present and not equal


def test_ordered_comparison_on_a_missing_field_is_false(pcap: Any) -> None:
    lt = compile_filter("TCP.Window < 100000", trace=pcap).evaluate(pcap)
    ge = compile_filter("TCP.Window >= 100000", trace=pcap).evaluate(pcap)
    tcp = compile_filter("TCP", trace=pcap).evaluate(pcap)
    assert not (lt & ~tcp).any() and not (ge & ~tcp).any()
    assert ((lt | ge) == compile_filter("TCP.Window", trace=pcap).evaluate(pcap)).all()


def test_any_instance_of_a_repeated_field_matches(pcap: Any) -> None:
    # ICMP errors quote the offending packet: its addresses are IPv4 instances of the frame too
    rows = [i for i in range(len(pcap)) if len(_values(pcap, i, "IPv4.SourceAddress")) > 1]
    assert rows
    i = rows[0]
    inner = _values(pcap, i, "IPv4.SourceAddress")[1]
    outer = _values(pcap, i, "IPv4.SourceAddress")[0]
    assert inner != outer
    hit = compile_filter(f"IPv4.SourceAddress == {ipaddress.IPv4Address(inner)}", trace=pcap).evaluate(pcap)
    assert hit[i]


def test_strings_compare_case_insensitively_and_containsbin_is_exact(pcap: Any) -> None:
    names = {pcap.frame(i).protocol_name for i in range(len(pcap))}
    assert "DNS" in names
    a = compile_filter('ProtocolName == "dns"', trace=pcap).evaluate(pcap)
    b = compile_filter('ProtocolName == "DNS"', trace=pcap).evaluate(pcap)
    assert a.any() and (a == b).all()
    exact = compile_filter('ContainsBin(FrameData, ASCII, "HTTP")', trace=pcap).evaluate(pcap)
    lower = compile_filter('ContainsBin(FrameData, ASCII, "http")', trace=pcap).evaluate(pcap)
    truth_exact = np.array([b"HTTP" in pcap.raw(i) for i in range(len(pcap))])
    truth_lower = np.array([b"http" in pcap.raw(i) for i in range(len(pcap))])
    assert (exact == truth_exact).all() and (lower == truth_lower).all() and truth_exact.any()
    anycase = compile_filter('contains "http"', trace=pcap).evaluate(pcap)
    truth_any = np.array([b"http" in pcap.raw(i).lower() or "http".encode("utf-16-le") in pcap.raw(i).lower()
                          for i in range(len(pcap))])
    assert (anycase == truth_any).all() and truth_any.any()
    hexed = compile_filter('ContainsBin(FrameData, HEX, "48545450")', trace=pcap).evaluate(pcap)
    assert (hexed == truth_exact).all()


@pytest.mark.parametrize("window", [5, 64, 4096])
def test_file_search_windows_do_not_lose_or_invent_hits(pcap: Any, window: int, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from tracemon.traces import bytesearch

    monkeypatch.setattr(bytesearch, "WINDOW", window)
    trace = pcap._trace  # the file itself, not the test's decoding cache: the search reads the file
    # (filter text, the bytes it looks for)
    for text, raw in (("akamai", b"akamai"), ("HTTP/1.1", b"http/1.1"), ("\\r\\n", b"\r\n"), ("ww", b"ww")):
        cf = compile_filter(f'contains "{text}"', trace=trace)
        got = cf.evaluate(trace)
        assert cf.last_stats.decoded == 0
        wide = raw.decode().encode("utf-16-le")
        truth = np.array([raw in trace.raw(i).lower() or wide in trace.raw(i).lower() for i in range(len(trace))])
        assert (got == truth).all() and truth.any(), text


def test_frame_variables_use_netmon_units(pcap: Any) -> None:
    ts = pcap.index.ts.astype(np.int64)
    k = 7
    ft = (int(ts[k]) // 100) + 116_444_736_000_000_000  # FILETIME: 100 ns ticks since 1601
    hit = compile_filter(f"FrameVariable.TimeOfDay == {ft}", trace=pcap).evaluate(pcap)
    assert hit[k] and hit.sum() == int((ts // 100 == ts[k] // 100).sum())
    first = compile_filter("FrameVariable.FrameNumber == 0", trace=pcap).evaluate(pcap)
    assert first[0] and first.sum() == 1  # Netmon's FrameNumber is 0-based
    big = compile_filter("FrameVariable.TimeDelta > 10000000", trace=pcap).evaluate(pcap)  # > 1 s
    assert (big[1:] == (np.diff(ts) > 1_000_000_000 + 99)).all()


def test_tcp_retransmits_on_the_sample_match_wiresharks_analysis(pcap: Any) -> None:
    import subprocess

    from tests.conftest import require_tshark

    exe = require_tshark()
    path = str(SAMPLES / "pcap" / "tcpreplay_test.pcap")
    out = subprocess.run([exe, "-r", path, "-Y", "tcp.analysis.retransmission", "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True).stdout.split()
    hit = compile_filter("Property.TCPRetransmit == 1", trace=pcap).evaluate(pcap)
    assert (np.flatnonzero(hit) + 1).tolist() == sorted(int(x) for x in out)


@pytest.mark.parametrize("name", [t for t in TRACES if t.endswith((".pcap", ".pcapng", ".cap"))], ids=_ids)
def test_tcp_headers_read_from_the_file_equal_the_dissector(name: str) -> None:
    from tracemon.filters.properties import _segment, raw_segments

    trace = trace_of(name)._trace
    rows = np.flatnonzero((trace.index.column("protos") & np.uint64(MASK["TCP"])) != 0)
    ok, seq, flags, plen = raw_segments(trace, rows)
    for k, i in enumerate(rows.tolist()):
        if ok[k]:
            assert _segment(trace.reader.frame(i)) == (seq[k], flags[k], plen[k]), i + 1
    if len(rows):
        assert ok.mean() > 0.5  # the plain shapes are read from the file


def test_evaluate_ranges_cancel_and_progress(pcap: Any) -> None:
    import threading

    cf = compile_filter("DNS.QRecord.QuestionName.Contains(\"a\") OR TCP.Port == 443", trace=pcap)
    whole = cf.evaluate(pcap)
    parts = np.concatenate([cf.evaluate(pcap, s, s + 50) for s in range(0, len(pcap), 50)])
    assert (whole == parts).all()
    seen: list[tuple[int, int]] = []
    cf.evaluate(pcap, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(pcap), len(pcap)) and all(a <= b for a, b in seen)
    stop = threading.Event()
    stop.set()
    res = cf.evaluate(pcap, cancel=stop)
    assert cf.last_stats.cancelled and len(res) == len(pcap)
    assert compile_filter("").evaluate(pcap).all()


def test_matches_one_frame_agrees_with_evaluate(pcap: Any) -> None:
    for expr in ("TCP.Port == 443", "IPv4.Address == 172.16.11.12", 'DNS.QRecord.QuestionName.Contains("akamai")',
                 "Property.TCPRetransmit", "ICMP AND IPv4.Address == 10.0.0.1", "!(tcp OR udp)"):
        cf = compile_filter(expr, trace=pcap)
        whole = cf.evaluate(pcap)
        assert [cf.matches(pcap, i) for i in range(len(pcap))] == whole.tolist(), expr


def test_uses_decode_is_false_for_index_only_filters(pcap: Any) -> None:
    assert not compile_filter("TCP OR ARP", trace=pcap).uses_decode
    assert not compile_filter("FrameVariable.FrameNumber < 10 AND !DNS", trace=pcap).uses_decode
    assert compile_filter('Description.Contains("x")', trace=pcap).uses_decode
    cf = compile_filter("IPv4.Address == 10.0.0.1 AND tcp.port == 80", trace=pcap)
    assert cf.fields == {"IPv4.Address", "IPv4.SourceAddress", "IPv4.DestinationAddress", "TCP.Port",
                         "TCP.SrcPort", "TCP.DstPort"}


def test_protocol_filters_decode_nothing(pcap: Any) -> None:
    for expr in ("TCP", "!(TCP OR UDP)", "DNS AND IPv4", "TCP.Port == 443", "TCP.Flags.Syn == 1"):
        cf = compile_filter(expr, trace=pcap)
        cf.evaluate(pcap)
        assert cf.last_stats.decoded == 0, expr


def test_type_errors_say_what_fits() -> None:
    from tracemon.filters import FilterError

    cases = {
        'IPv4.Address == "10.0.0.1"': "without quotes",
        "IPv4.Address == 2001::1": "IPv6.Address",
        "TCP.Port == \"http\"": "number",
        "TCP == 1": "protocol",
        'ProtocolName == DNS_x': "unknown protocol",
        "Description == 5": "quoted string",
        "TCP.Port.Contains(\"x\")": "not text",
        "IPv4.Address == 10.0.0.0/8 AND TCP.Port == 10.0.0.0/8": "subnet",
        "tcp.portt == 80": "TCP has no field portt",
        "Property.SMBSummary": "does not compute",
        "IPConfig.LocalIPv4Address": "not recorded",
        "ContainsBin(FrameData, EBCDIC, \"x\")": "encoding",
        "Foo(1)": "unknown function",
    }
    for text, fragment in cases.items():
        with pytest.raises(FilterError) as info:
            compile_filter(text)
        assert fragment in str(info.value) or any(fragment in h for h in info.value.hints), (text, str(info.value))
    with pytest.raises(FilterError) as info:
        compile_filter("Property.tcpretranmits")
    assert info.value.suggestions[0] == "Property.TCPRetransmit"
    assert "TCP.Flags.Syn" in {s for s in _suggest("TCP.Flags.Sin")}


def _suggest(text: str) -> list[str]:
    from tracemon.filters import FilterError

    try:
        compile_filter(text)
    except FilterError as e:
        return e.suggestions
    return []


def test_enum_names_compare_by_number(pcap: Any) -> None:
    from tracemon.traces.fields import REGISTRY

    fdef = REGISTRY.get("IPv4.NextProtocol")
    if fdef is None or not fdef.enum:
        pytest.skip("IPv4.NextProtocol has no value names")
    by_name = compile_filter('IPv4.NextProtocol == "UDP"', trace=pcap).evaluate(pcap)
    by_number = compile_filter("IPv4.NextProtocol == 17", trace=pcap).evaluate(pcap)
    assert by_name.any() and (by_name == by_number).all()


def test_state_is_per_trace(pcap: Any) -> None:
    assert state_for(pcap) is state_for(pcap)
