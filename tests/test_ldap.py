"""LDAP against tshark on hand-built frames (no sample carries LDAP: ``tshark -Y ldap`` finds none in
``../shared/samples``), the Description column, filters, the vectorised classification, and
hostile BER.

tshark's values are the expected results; the frames where it has none are named with the reason
(``SKIPPED``) and checked for what we show instead.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import test_classify
from conftest import require_tshark
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ldap_frames import BASE, NESTED, NESTED_TEXT, ber, integer, ldap_frames, message, octets, search
from test_dissect_robustness import run
from test_dissect_synthetic import eth, ipv4, tcp, udp, write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import Frame, open_trace
from tracemon.traces.dissect import dissect

NO_REASSEMBLY = ("-o", "ip.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
                 "-o", "tcp.no_subdissector_on_error:FALSE")
#: frame number → why tshark has no LDAP fields for it (we show a layer that says what the bytes are)
SKIPPED = {
    12: "the second half of frame 11's message: without reassembly tshark adds no LDAP; we say 'continued'",
    15: "a SASL-sealed buffer after the GSS-SPNEGO bind: tshark shows 'SASL GSS-API Privacy', no LDAP fields",
}
#: tshark field → our field; a text field tshark prints empty when the value is empty
FIELDS = {"ldap.messageID": "LDAP.MessageID", "ldap.protocolOp": "LDAP.ProtocolOp",
          "ldap.resultCode": "LDAP.ResultCode", "ldap.baseObject": "LDAP.BaseObject",
          "ldap.mechanism": "LDAP.SaslMechanism", "ldap.version": "LDAP.LDAPMessage.BindRequest.Version",
          "ldap.scope": "LDAP.LDAPMessage.SearchRequest.Scope"}
#: the DN an operation acts on, which tshark names per operation and we name once (ObjectName)
OBJECT_FIELDS = ("ldap.objectName", "ldap.object", "ldap.entry", "ldap.delRequest")
TEXT = {"ldap.baseObject", "ldap.mechanism"}


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ldap") / "ldap.pcap"
    write_pcap(path, 1, ldap_frames())
    return path


@lru_cache(maxsize=8)
def _tshark(path: str, *args: str) -> str:
    return subprocess.run([require_tshark(), "-n", "-r", path, *NO_REASSEMBLY, *args], capture_output=True,
                          text=True, check=True, timeout=120).stdout


def _frames() -> list[Frame]:
    out = []
    for i, data in enumerate(ldap_frames()):
        ctx = dissect(data, 1)
        out.append(Frame(i, 0, data, ctx.layers, len(data), len(data), link_type=1))
    return out


def _ours(frame: Frame, name: str) -> list[str]:
    return [str(v) for v in frame.values(name) if v != ""]


@pytest.mark.tshark
def test_fields_equal_tsharks(pcap: Path) -> None:
    names = [*FIELDS, *OBJECT_FIELDS]
    args = ["-T", "fields", "-E", "separator=\t", "-e", "frame.number"]
    for n in names:
        args += ["-e", n]
    rows = [line.split("\t") for line in _tshark(str(pcap), *args).splitlines()]
    frames = _frames()
    assert len(rows) == len(frames)
    problems = []
    for frame, row in zip(frames, rows, strict=True):
        number = int(row[0])
        got = dict(zip(names, row[1:], strict=True))
        if number in SKIPPED:
            assert not any(got.values()), f"frame {number}: tshark now decodes it: {got}"
            continue
        for ts, name in FIELDS.items():
            want = [v for v in got[ts].split(",") if v] if ts not in TEXT else [got[ts]] if got[ts] else []
            if _ours(frame, name) != want:
                problems.append(f"frame {number} {ts}: tshark {want}, ours {_ours(frame, name)}")
        want = [got[n] for n in OBJECT_FIELDS if got[n]]
        if _ours(frame, "LDAP.ObjectName") != want:
            problems.append(f"frame {number} DN: tshark {want}, ours {_ours(frame, 'LDAP.ObjectName')}")
    assert not problems, "\n".join(problems)


def _flatten(text: str) -> str:
    """tshark shows ``(&(a)(b)(c))`` as ``(&(&(a)(b))(c))``: the same filter; splice the nesting."""
    def parse(i: int) -> tuple[list[object] | str, int]:
        assert text[i] == "("
        if text[i + 1] in "&|!":
            op, kids, j = text[i + 1], [], i + 2
            while text[j] == "(":
                kid, j = parse(j)
                kids.extend(kid[1:] if isinstance(kid, list) and kid[0] == op and op != "!" else [kid])
            return [op, *kids], j + 1
        depth, j = 0, i
        while True:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                return text[i:j], j

    def show(node: list[object] | str) -> str:
        return node if isinstance(node, str) else f"({node[0]}{''.join(show(k) for k in node[1:])})"  # type: ignore

    return show(parse(0)[0])


@pytest.mark.tshark
def test_filter_text_equals_tsharks(pcap: Path) -> None:
    shown: dict[int, str] = {}
    number = 0
    for line in _tshark(str(pcap), "-O", "ldap").splitlines():
        if line.startswith("Frame "):
            number = int(line.split()[1].rstrip(":"))
        elif line.strip().startswith("Filter: ") and number not in shown:
            shown[number] = line.strip()[len("Filter: "):]
    assert shown, "tshark showed no filter"
    frames = _frames()
    for number, text in shown.items():
        assert frames[number - 1].values("LDAP.Filter") == [_flatten(text)], number
    assert frames[2].values("LDAP.Filter") == [NESTED_TEXT]


def test_description_column() -> None:
    d = [dissect(data, 1).description for data in ldap_frames()]
    assert d[2].startswith("LDAP:ProtocolOp = SearchRequest, MessageID = 4, BaseObject = DC=contoso,DC=com, "
                           "Filter = (&(objectClass=user)")
    assert d[1] == "LDAP:ProtocolOp = BindResponse, MessageID = 1, Status: Success"
    assert d[3].endswith("(+1 more LDAPMessage)")
    assert d[4].startswith("LDAP:ProtocolOp = BindResponse, MessageID = 2, Status: InvalidCredentials")
    assert "AuthenticationType = sasl, Mechanism = GSS-SPNEGO" in d[12]
    assert d[10].endswith("[truncated]") and d[11] == "LDAP:continued, 286 bytes"
    assert d[14].startswith("LDAP:SASL encrypted payload, Length = ")


def test_filters_select_what_tshark_selects(pcap: Path) -> None:
    trace = open_trace(pcap, use_cache=False)

    def ours(expr: str) -> list[int]:
        return (np.flatnonzero(compile_filter(expr, trace=trace).evaluate(trace)) + 1).tolist()

    def theirs(expr: str) -> list[int]:
        return [int(x) for x in _tshark(str(pcap), "-Y", expr, "-T", "fields", "-e", "frame.number").split()]

    # tshark names LDAP over UDP "CLDAP" (a protocol of its own) and adds nothing to a continuation
    assert ours("LDAP") == sorted({*theirs("ldap || cldap"), *SKIPPED})
    # ``!=`` is ``!(==)``, as in Netmon (frames without a result code are selected); ``> 0`` is tshark's ``!=``
    assert ours("LDAP.ResultCode != 0") == theirs("!(ldap.resultCode == 0)")
    assert ours("LDAP.ResultCode > 0") == theirs("ldap.resultCode != 0") == [5, 6]
    assert ours('LDAP.BaseObject == "DC=contoso,DC=com"') == theirs('ldap.baseObject == "DC=contoso,DC=com"')
    # the "LDAP searches" preset (CLDAP's search in frame 10 included, as tshark's field is shared)
    assert ours("LDAP.ProtocolOp == 3") == theirs("ldap.protocolOp == 3") == [3, 10, 11]


def test_index_classifies_ldap_without_the_dissectors(pcap: Path) -> None:
    """The vectorised path gives what the dissectors give, and decides LDAP ports itself."""
    from tracemon.traces import fastapps
    from tracemon.traces.dissect.core import TCP_PORTS, UDP_PORTS

    test_classify.test_fast_path_agrees_with_dissectors(pcap)
    ldap = 3 + fastapps._RULE_NAMES.index("LDAP")
    for kind, table in (("tcp", TCP_PORTS), ("udp", UDP_PORTS)):
        rules = fastapps._rules(kind, table)
        assert rules[389] == rules[3268] == ldap


def _tcp_to_ldap(data: bytes) -> bytes:
    return eth(0x0800, ipv4(6, tcp(50000, 389, 0x018, data)))


def test_deep_and_wide_filters_are_bounded() -> None:
    deep = octets("cn", 0x87)
    for _ in range(300):
        deep = ber(0xA2, deep)
    wide = ber(0xA1, b"".join(ber(0xA3, octets("cn") + octets("x" * 50)) for _ in range(200)))
    for flt in (deep, wide):
        ctx = run(_tcp_to_ldap(message(3, search(BASE, 2, flt))), 1)
        text = Frame(0, 0, b"", ctx.layers, 0, 0).values("LDAP.Filter")[0]
        assert len(text) < 600, len(text)


def test_many_messages_in_one_segment_are_bounded() -> None:
    ctx = run(_tcp_to_ldap(message(1, ber(0x42, b"")) * 500), 1)
    assert len(Frame(0, 0, b"", ctx.layers, 0, 0).values("LDAP.MessageID")) == 64
    assert "more LDAPMessages" in ctx.description


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(cut=st.integers(0, 400), noise=st.binary(max_size=64), at=st.integers(0, 300), use_udp=st.booleans())
def test_damaged_messages_never_raise(cut: int, noise: bytes, at: int, use_udp: bool) -> None:
    """Valid messages cut anywhere and with random bytes spliced in."""
    good = message(4, search(BASE, 2, NESTED, "cn")) + message(5, ber(0x65, integer(0, 0x0A) + octets("") * 2))
    data = good[:at] + noise + good[at:]
    data = data[:cut] if cut else data
    seg = udp(50000, 389, data) if use_udp else tcp(50000, 3268, 0x018, data)
    run(eth(0x0800, ipv4(17 if use_udp else 6, seg)), 1)


def test_a_continuation_that_starts_with_a_sequence_tag_is_not_a_message() -> None:
    """0x30 is '0' in text: the rest of an attribute value often starts with it."""
    for rest in (b"0123456789 rest of a value", b"\x30\x05\x04\x03abc", b"\x30\x00\x02\x01\x01"):
        assert run(_tcp_to_ldap(rest), 1).description == f"LDAP:continued, {len(rest)} bytes", rest


def test_a_message_cut_inside_its_header_says_truncated() -> None:
    whole = message(4, search(BASE, 2, NESTED))
    for n in (1, 2, 3, 5, 9):
        assert run(_tcp_to_ldap(whole[:n]), 1).description.endswith("[truncated]"), n
