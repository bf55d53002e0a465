"""Autocomplete: candidates for the token at the cursor, as the filter bar asks for them."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from tracemon.filters import Candidate, Completion, PresetStore, complete
from tracemon.traces import REGISTRY, open_trace

from tests.conftest import SAMPLES, require_tshark
from tests.work import count_lines


@pytest.fixture(scope="module")
def pcap() -> Any:
    path = SAMPLES / "pcap" / "tcpreplay_test.pcap"
    if not path.exists():
        pytest.skip("sample missing")
    return open_trace(path, use_cache=False)


def texts(c: Completion) -> list[str]:
    return [x.text for x in c.candidates]


def apply(text: str, c: Completion, cand: Candidate) -> str:
    return text[: c.start] + cand.text + text[c.end :]


def test_top_level_offers_protocols_namespaces_functions_and_not() -> None:
    c = complete("", 0, REGISTRY)
    kinds = {x.kind for x in c.candidates[:200]}
    names = texts(complete("", 0, REGISTRY, limit=1000))
    for want in ("TCP", "IPv4", "DNS", "VMSWITCH_MicrosoftWindowsHyperVVmSwitch", "Property", "FrameVariable",
                 "Conversation", "ProtocolName", "Description", "NOT"):
        assert want in names, want
    assert {"protocol", "function", "keyword", "property", "field"} <= {x.kind for x in complete("", 0, REGISTRY,
                                                                                                   limit=1000).candidates}
    assert kinds


def test_prefix_and_case_insensitive_matching() -> None:
    c = complete("ic", 2, REGISTRY)
    assert texts(c)[:2] == ["ICMP", "ICMPv6"]
    assert (c.start, c.end) == (0, 2)
    c = complete("(tcp OR ipv", 11, REGISTRY)
    assert texts(c)[:2] == ["IPv4", "IPv6"] and c.start == 8


def test_fields_under_a_protocol_with_types_and_descriptions() -> None:
    text = "TCP.Sr"
    c = complete(text, len(text), REGISTRY)
    (first,) = c.candidates[:1]
    assert first.text == "SrcPort" and first.kind == "field" and first.type == "uint" and first.description
    assert apply(text, c, first) == "TCP.SrcPort"
    text = "ipv4.address == 1.2.3.4 AND tcp.fl"
    c = complete(text, len(text), REGISTRY)
    assert texts(c) == ["Flags"]
    text = "TCP.Flags."
    assert {"Syn", "Ack", "Rst", "Fin"} <= set(texts(complete(text, len(text), REGISTRY)))
    text = "Property.TCPR"
    assert texts(complete(text, len(text), REGISTRY))[:1] == ["TCPRetransmit"]
    text = "DNS.QRecord.QuestionName."
    assert 'Contains("")' in texts(complete(text, len(text), REGISTRY))


def test_keywords_after_a_complete_operand() -> None:
    text = "tcp.port == 80 a"
    c = complete(text, len(text), REGISTRY)
    assert texts(c)[0] == "AND" and apply(text, c, c.candidates[0]) == "tcp.port == 80 AND"
    text = "TCP "
    assert {"AND", "OR"} <= set(texts(complete(text, len(text), REGISTRY)))


def test_cursor_in_the_middle_replaces_the_whole_word() -> None:
    text = "TCP.SrcPort == 80"
    c = complete(text, 6, REGISTRY)  # cursor after "TCP.Sr"
    assert c.start == 4 and c.end == 11
    assert apply(text, c, c.candidates[0]) == text


def test_nothing_inside_strings_and_comments() -> None:
    assert not complete('Description == "TC', 18, REGISTRY).candidates
    assert not complete("tcp // TC", 9, REGISTRY).candidates


def test_values_seen_in_the_trace(pcap: Any) -> None:
    exe = require_tshark()
    ips = set(subprocess.run([exe, "-n", "-r", str(SAMPLES / "pcap" / "tcpreplay_test.pcap"), "-T", "fields", "-e",
                              "ip.src", "-e", "ip.dst"], check=False, capture_output=True, text=True).stdout.split())
    text = "IPv4.Address == "
    c = complete(text, len(text), pcap.registry, pcap, limit=500)
    assert c.candidates and all(x.kind == "value" and x.type == "ipv4" for x in c.candidates)
    outer = set(texts(c))
    assert outer and outer <= {ip for line in ips for ip in line.split(",")}
    text = "IPv4.Address == 172.16"
    assert all(x.startswith("172.16") for x in texts(complete(text, len(text), pcap.registry, pcap)))
    text = "TCP.Port == "
    assert "443" in texts(complete(text, len(text), pcap.registry, pcap, limit=500))
    text = "ProtocolName == "
    assert '"DNS"' in texts(complete(text, len(text), pcap.registry, pcap))
    text = 'DNS.QRecord.QuestionName == '
    names = texts(complete(text, len(text), pcap.registry, pcap))
    assert names and all(n.startswith('"') for n in names)
    text = "TCP.Port in [80, "
    assert "443" in texts(complete(text, len(text), pcap.registry, pcap, limit=500))
    text = "TCP.Flags.Syn == "
    assert texts(complete(text, len(text), pcap.registry, pcap)) == ["1", "0"]
    text = "IPv4.NextProtocol == "
    c = complete(text, len(text), pcap.registry, pcap)
    assert any(x.text == "17" and "UDP" in x.description for x in c.candidates)


def test_presets_when_the_bar_is_empty(tmp_path: Any) -> None:
    store = PresetStore(tmp_path / "presets.toml")
    c = complete("", 0, REGISTRY, presets=store)
    assert c.candidates[0].kind == "preset" and c.candidates[0].description == "VmSwitch: hide datapath noise"


def test_completion_is_fast_enough_for_every_keystroke(pcap: Any) -> None:
    """Counted, not timed (a loaded machine must not fail it): today the heaviest keystroke runs
    about 160k Python lines (~30 ms); a bound four times above that still catches a completion
    that walks every name per candidate or decodes frames.  The time is in benchmarks."""
    complete("T", 1, pcap.registry, pcap)
    for text in ("T", "TCP.", "TCP.Sr", "IPv4.Address == ", "tcp.port == 80 an", "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM"):
        _, lines = count_lines(complete, text, len(text), pcap.registry, pcap)
        assert lines < 600_000, (text, lines)
