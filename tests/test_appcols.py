"""The HTTP and TLS field columns (traces/httpcols.py, tlscols.py) against the dissector.

Hand-built frames (``app_frames`` and the odd cases below) and hypothesis-built HTTP messages and
TLS ClientHellos are written to a pcap; every column must agree with the decoded frames on every
frame it answers (``test_fieldcols.check_columns``), and the plain cases must be answered, not
left to decoding.  The samples are checked in ``test_fieldcols``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from app_frames import _nbss, _smb2_header, client_hello, tunnel_frames
from app_frames import frames as app_frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_synthetic import eth, ipv4, ipv6, tcp, write_pcap
from test_fieldcols import check_columns
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.fieldcols import CODE_DECODE, DECODE, PRESENT, columns_for

SNI = "TLS.TlsRecLayer.TlsRecordLayer.SSLHandshake.HandShake.ClientHello.ServerName"
HTTP_FIELDS = ["HTTP.Host", "HTTP.Request.Method", "HTTP.Request.URI", "HTTP.Response.StatusCode",
               "HTTP.Response.ProtocolVersion"]
SMB2_FIELDS = ["SMB2.TreeConnect.Path", "SMB2.FileName"]
FIELDS = [*HTTP_FIELDS, SNI, *SMB2_FIELDS]


def _tcp4(sport: int, dport: int, data: bytes) -> bytes:
    return eth(0x0800, ipv4(6, tcp(sport, dport, 0x018, data)))


def _tcp6(sport: int, dport: int, data: bytes) -> bytes:
    return eth(0x86DD, ipv6(6, tcp(sport, dport, 0x018, data)))


def _vlan(frame: bytes) -> bytes:
    return frame[:12] + b"\x81\x00\x00\x05" + frame[12:]


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _u16(len(body)) + body


def _hello(exts: bytes, sid: bytes = b"", suites: bytes = b"\x13\x01") -> bytes:
    body = b"\x03\x03" + bytes(32) + bytes([len(sid)]) + sid + _u16(len(suites)) + suites + b"\x01\x00"
    body += _u16(len(exts)) + exts
    return b"\x01" + len(body).to_bytes(3, "big") + body


def _record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype]) + b"\x03\x01" + _u16(len(body)) + body


def _sni(*entries: tuple[int, bytes]) -> bytes:
    items = b"".join(bytes([t]) + _u16(len(n)) + n for t, n in entries)
    return _ext(0, _u16(len(items)) + items)


def odd_frames() -> list[bytes]:
    """What the builders must answer exactly or leave to decoding."""
    return [
        _tcp4(50000, 80, b"GET /a HTTP/1.1\r\nhOsT:  spaced.example \t\r\n\r\n"),
        _tcp4(50000, 80, b"GET /b HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n"),  # two: decoded
        _tcp4(50000, 80, b"GET /c HTTP/1.1\r\n Host : odd\r\n\r\n"),  # may strip to host: decoded
        _tcp4(50000, 80, b"GET /d HTTP/1.1\r\nX-Host: no\r\nHostname: no\r\n\r\nHost: body"),
        _tcp4(50000, 80, b"GET /e HTTP/1.1\nHost: lf-only\n\n"),
        _tcp4(50000, 80, b"GET /f HTTP/1.1\r\nHost: cut-before-end\r\nAccept: */"),  # no blank line
        _tcp4(50000, 80, b"GET /g HTTP/1.1\r\nHost: partial"),  # the host line is not complete
        _tcp4(50000, 80, b"GET /with space/x HTTP/1.1\r\nHost: h\r\n\r\n"),
        _tcp4(50000, 80, b"GET nospace\r\n\r\n"),
        _tcp4(50000, 80, b"GET "),
        _tcp4(80, 50000, b"HTTP/1.1 404 Not Found\r\nHost: in-a-response\r\n\r\n"),
        _tcp4(80, 50000, b"HTTP/1.0 2000 Too long\r\n\r\n"),
        _tcp4(80, 50000, b"HTTP/1.1 abc\r\n\r\n"),
        _tcp4(80, 50000, b"HTTP/1.1 204\r\n\r\n"),
        _tcp4(80, 50000, b"HTTP/1.1\r\n\r\n"),
        _tcp6(50000, 8080, b"PUT /v6 HTTP/1.1\r\nHost: v6.example\r\n\r\n"),
        _vlan(_tcp4(50000, 3128, b"OPTIONS * HTTP/1.1\r\nHOST: vlan.example\r\n\r\n")),
        _tcp4(50000, 80, b"GET /big HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\nHost: far\r\n\r\n"),
        _tcp4(50000, 80, b"GET /long HTTP/1.1\r\nHost: " + b"x" * 600 + b"\r\n\r\n"),
        _tcp4(50000, 80, b"GET /latin HTTP/1.1\r\nHost: \xa0caf\xe9\x85\r\n\r\n"),
        _tcp4(50000, 443, b"GET /tls-port HTTP/1.1\r\nHost: not-http\r\n\r\n"),
        # TLS
        _tcp4(50000, 443, _record(22, _hello(_sni((0, b"plain.example")) + _ext(23, b"")))),
        _tcp4(50000, 443, _record(22, _hello(_ext(10, b"\x00\x02\x00\x17") + _sni((0, b"late.example")),
                                             sid=bytes(32), suites=bytes(40)))),
        _tcp4(50000, 443, _record(22, _hello(_ext(10, b"\x00\x02\x00\x17")))),  # no SNI
        _tcp4(50000, 443, _record(22, _hello(_sni((0, b"a.example"), (0, b"b.example"))))),
        _tcp4(50000, 443, _record(22, _hello(_sni((1, b"x"), (0, b"second.example"))))),
        _tcp4(50000, 443, _record(22, _hello(_sni((0, b"one.example")) + _sni((0, b"two.example"))))),
        _tcp4(50000, 443, _record(22, _hello(_sni((0, b"cut.example"))))[:60]),  # the segment cuts it
        _tcp4(50000, 443, _record(20, b"\x01") + _record(22, _hello(_sni((0, b"second-record.example"))))),
        _tcp4(50000, 443, _record(23, bytes(40)) + _record(23, bytes(20))),
        _tcp4(50000, 443, _record(22, _hello(_sni((0, b"x1"))) + _hello(_sni((0, b"x2"))))),  # two messages
        _tcp4(50000, 993, _record(22, _hello(_sni((0, b"imaps.example"))))),
        _tcp6(50000, 443, client_hello()),
        _tcp4(50000, 80, client_hello()),  # TLS bytes on an HTTP port: HTTP payload
        _tcp4(50000, 80, b"GET /cookie HTTP/1.1\r\nCookie: " + b"c" * 900 + b"\r\nHost: past-first-window\r\n\r\n"),
        # RDP's port: TLS unless the segment starts a TPKT header
        _tcp4(50001, 3389, _record(22, _hello(_sni((0, b"rdp.example"))))),
        _tcp4(50001, 3389, b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"),
        _tcp4(3389, 50001, _record(23, bytes(30))),
    ]


def _check(tmp_path: Path, frames: list[bytes]) -> tuple[object, dict[str, int]]:
    path = tmp_path / "apps.pcap"
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    return trace, check_columns(trace, FIELDS)


def test_app_frames_columns_match_the_dissector(tmp_path: Path) -> None:
    frames = app_frames()
    trace, answered = _check(tmp_path, frames)
    tunnelled = frames.index(tunnel_frames()[0])  # HTTP inside VXLAN (and Geneve): left to decoding
    assert answered == {**dict.fromkeys(HTTP_FIELDS, len(trace) - 2), SNI: len(trace),
                        **dict.fromkeys(SMB2_FIELDS, len(trace) - 1)}, answered  # (less a compound)
    host = columns_for(trace).get(trace.registry.get("HTTP.Host"))
    assert int(host.codes[tunnelled]) == CODE_DECODE
    sni = columns_for(trace).get(trace.registry.get(SNI))
    assert "www.example.com" in sni.table


def test_odd_frames_are_answered_exactly_or_left_to_decoding(tmp_path: Path) -> None:
    frames = odd_frames()
    trace, _ = _check(tmp_path, frames)
    host = columns_for(trace).get(trace.registry.get("HTTP.Host"))
    sni = columns_for(trace).get(trace.registry.get(SNI))
    status = columns_for(trace).get(trace.registry.get("HTTP.Response.StatusCode"))
    decoded_host = {i + 1 for i in np.flatnonzero(host.codes == CODE_DECODE)}
    decoded_sni = {i + 1 for i in np.flatnonzero(sni.codes == CODE_DECODE)}
    # left to decoding: two hosts, a name that may strip to host, headers past the window,
    # two names in one extension, a first entry that is not a host name, two extensions, two messages
    assert decoded_host == {2, 3, 18, 19}, decoded_host
    assert decoded_sni == {25, 26, 27, 31}, decoded_sni
    assert {host.table[c] for c in host.codes if c >= 0} >= {"spaced.example", "lf-only", "cut-before-end",
                                                             "in-a-response", "v6.example", "vlan.example",
                                                             "café", "past-first-window"}
    assert {sni.table[c] for c in sni.codes if c >= 0} == {"plain.example", "late.example", "second-record.example",
                                                           "imaps.example", "www.example.com", "rdp.example"}
    assert int(status.values[13]) == 204 and status.state[13] != DECODE


_TOKENS = st.sampled_from([b"Host", b"host", b"HOST", b" Host", b"Host ", b"\tHost", b"X-Host", b"Hos", b"Hostname",
                           b"Content-Length", b"", b"a b"])
_VALUE = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b" x.example ", b"\xa0y\x85", b"z\r", b"", b" : "])
_EOL = st.sampled_from([b"\r\n", b"\n", b"\r\r\n"])


@st.composite
def http_payload(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        line = draw(st.sampled_from([b"GET ", b"POST ", b"HEAD ", b"PATCH "])) + draw(
            st.sampled_from([b"/", b"/a b", b"", b"/x HTTP/1.1", b"* HTTP/1.0", b"/\r"]))
    else:
        line = b"HTTP/1." + draw(st.sampled_from([b"1 200 OK", b"1 2000", b"0 30", b"1 \xb200 x", b"1", b"1  404"]))
    out = line + draw(_EOL)
    for _ in range(draw(st.integers(0, 5))):
        out += draw(_TOKENS) + draw(st.sampled_from([b":", b"", b"::"])) + draw(_VALUE) + draw(_EOL)
    if draw(st.booleans()):
        out += draw(_EOL) + draw(st.binary(max_size=10))
    cut = draw(st.integers(1, len(out)))
    return out[:cut] if draw(st.booleans()) else out


@st.composite
def tls_payload(draw: st.DrawFn) -> bytes:
    entries = draw(st.lists(st.tuples(st.sampled_from([0, 0, 1]), st.binary(min_size=0, max_size=8)), max_size=3))
    exts = []
    for kind in draw(st.lists(st.sampled_from(["sni", "other", "empty"]), max_size=4)):
        exts.append(_sni(*entries) if kind == "sni" else _ext(10, b"\x00\x02\x00\x17") if kind == "other"
                    else _ext(0, b""))
    hello = _hello(b"".join(exts), sid=bytes(draw(st.sampled_from([0, 8, 32]))))
    if draw(st.booleans()):
        hello += _hello(_sni((0, b"m2")))  # a second message in the record
    rec = _record(22, hello)
    before = draw(st.sampled_from([b"", _record(20, b"\x01"), _record(23, bytes(8))]))
    out = before + rec + draw(st.sampled_from([b"", _record(23, bytes(4)), b"\x17\x03"]))
    cut = draw(st.integers(1, len(out)))
    return out[:cut] if draw(st.booleans()) else out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(http=st.lists(st.tuples(http_payload(), st.sampled_from([80, 8080, 9999, 443])), min_size=1, max_size=6),
       tls=st.lists(tls_payload(), min_size=1, max_size=6))
def test_random_messages_columns_match_the_dissector(tmp_path: Path, http: list[tuple[bytes, int]],
                                                     tls: list[bytes]) -> None:
    frames = [_tcp4(50000, port, data) for data, port in http] + [_tcp4(50001, 443, data) for data in tls]
    _check(tmp_path, frames)


def assert_column_filter(path: Path, frames: list[bytes], expr: str) -> None:
    """``expr`` over ``frames`` selects something, the same frames as decoding, from a field column."""
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert fast.any()
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    assert any("field column" in line for line in cf.explain(trace)), cf.explain(trace)


@pytest.mark.parametrize("expr", ['HTTP.Host.Contains("example")', 'HTTP.Request.Host == "VLAN.example"',
                                  'HTTP.Request.Method == "GET"', 'HTTP.Request.URI.Contains("/")',
                                  "HTTP.Response.StatusCode == 404", f'{SNI}.Contains("example")',
                                  'TLS.ClientHello.ServerName == "plain.example"'])
def test_filters_over_app_columns_select_what_decoding_selects(tmp_path: Path, expr: str) -> None:
    assert_column_filter(tmp_path / "odd.pcap", odd_frames(), expr)


def test_the_index_sends_http_with_ntlm_or_negotiate_anywhere_to_the_dissectors(tmp_path: Path) -> None:
    """The index's NTLMSSP bit on HTTP frames (fastapps._http_auth finds the words in all the
    message segments at once) is what decoding finds."""
    from app_frames import http_frames
    from tracemon.traces.protocols import MASK

    frames = [*http_frames(), *http_frames()[::-1],
              _tcp4(50000, 80, b"GET /n HTTP/1.1\r\nHost: x\r\nX: NeGoTiAtE\r\n\r\n"),
              _tcp4(50000, 80, b"GET /plain HTTP/1.1\r\nHost: ntl\r\n\r\nm")]
    path = tmp_path / "auth.pcap"
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    bit = np.uint64(MASK["NTLMSSP"])
    indexed = (trace.index.column("protos") & bit) != 0
    decoded = np.array(["NTLMSSP" in trace.reader.frame(i).protocols for i in range(len(trace))])
    assert decoded.sum() >= 2
    assert np.array_equal(indexed, decoded)


def _tree(path: str, *, response: bool = False, offset: int = 72, size: int | None = None) -> bytes:
    raw = path.encode("utf-16-le")
    body = struct.pack("<HHHH", 9, 0, offset, len(raw) if size is None else size) + raw
    return _smb2_header(3, 4, response=response) + body


def _create(name: str) -> bytes:
    raw = name.encode("utf-16-le")
    body = struct.pack("<HBBIQQIIIII", 57, 0, 0, 2, 0, 0, 0x12019F, 0, 7, 1, 0x40)
    return _smb2_header(5, 9, response=False) + body + struct.pack("<HHII", 64 + 56, len(raw), 0, 0) + raw


def smb2_frames() -> list[bytes]:
    return [
        _tcp4(50010, 445, _nbss(_tree("\\\\srv\\share"))),
        _tcp4(50010, 445, _nbss(_tree("\\\\srv\\cut"))[:-4]),  # the segment cuts the name
        _tcp4(50010, 445, _nbss(_tree("\\\\srv\\odd", size=7))),  # an odd length
        _tcp4(50010, 445, _nbss(_tree("\\\\srv\\far", offset=400))),  # past the message
        _tcp4(445, 50010, _nbss(_tree("\\\\srv\\resp", response=True))),  # a response: no path
        _tcp4(50010, 445, _nbss(_tree("\\\\a\\one")) + _nbss(_tree("\\\\b\\two"))),  # two NbtSS messages
        _tcp4(50010, 139, _nbss(_create("dir\\file.txt"))),
        _tcp4(50010, 445, _nbss(_create("caf\u00e9 \U0001f600.txt"))),
        _tcp4(50010, 445, _nbss(_create(""))),  # the share's root: no name
        _tcp4(50010, 445, _nbss(_smb2_header(5, 9, response=False)[:40])),  # a header cut short
        _tcp4(50010, 445, _nbss(b"\xfdSMB" + bytes(60))),  # encrypted: nothing to read
    ]


def test_smb2_name_columns_match_the_dissector(tmp_path: Path) -> None:
    frames = smb2_frames()
    trace, answered = _check(tmp_path, frames)
    path = columns_for(trace).get(trace.registry.get("SMB2.TreeConnect.Path"))
    name = columns_for(trace).get(trace.registry.get("SMB2.FileName"))
    assert {i + 1 for i in np.flatnonzero(path.codes == CODE_DECODE)} == {6}  # two messages: decoded
    assert {path.table[c] for c in path.codes if c >= 0} == {"\\\\srv\\share", "\\\\srv\\c", "\\\\s"}
    assert {name.table[c] for c in name.codes if c >= 0} == {"dir\\file.txt", "caf\u00e9 \U0001f600.txt"}
    assert answered["SMB2.FileName"] == len(trace) - 1


@pytest.mark.parametrize("expr", ['SMB2.FileName.Contains("FILE")', 'SMB2.TreeConnect.Path.Contains("share")',
                                  "SMB2.FileName"])
def test_filters_over_smb2_names_select_what_decoding_selects(tmp_path: Path, expr: str) -> None:
    assert_column_filter(tmp_path / "smb2.pcap", smb2_frames(), expr)


@pytest.mark.parametrize("expr", ["HTTP.Request", "!HTTP.Request", "http.Request AND TCP.Port == 80",
                                  "HTTP.Request OR TLS", "HTTP.Response", "!http.Response",
                                  'HTTP.Response.ProtocolVersion == "HTTP/1.1"', "HTTP.Request OR HTTP.Response"])
def test_http_requests_are_found_from_the_method_column(tmp_path: Path, expr: str) -> None:
    """``HTTP.Request`` (the standard "HTTP requests" preset) exists exactly where the dissector put
    a request line, which always holds its method, and ``HTTP.Response`` where it put a status
    line, which always holds its version: those columns answer, without decoding the frames they
    are sure of."""
    from app_frames import http_frames

    write_pcap(tmp_path / "odd.pcap", 1, [*odd_frames(), *app_frames(), *http_frames()])
    trace = open_trace(tmp_path / "odd.pcap", use_cache=False)
    unsure = 0
    for name in ("HTTP.Request.Method", "HTTP.Response.ProtocolVersion"):
        col = columns_for(trace).get(trace.registry.get(name))
        unsure += int((col.states() == DECODE).sum())
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert fast.any() and np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    assert cf.last_stats.decoded <= unsure, (cf.last_stats.decoded, unsure)


@pytest.mark.parametrize("expr", ["TLS.Record.ContentType == 22", "TLS.Record.ContentType in [21, 23]",
                                  "TLS.Handshake", "!TLS.Handshake", "TLS.Handshake OR TLS.Record.ContentType == 21",
                                  "TLS.ClientHello", "TLS.ServerHello", "TLS.Alert", "TLS.Alert.Level == 2",
                                  "!TLS.Alert.Description", "TLS.ClientHello.CipherSuite == 0x1301",
                                  "TLS.Handshake.HandShakeType == 1"])
def test_tls_records_are_read_from_the_content_type_column(tmp_path: Path, expr: str) -> None:
    """The standard "TLS handshakes and alerts" preset: the record content type column answers
    segments holding one record, and the handshake (or alert) nodes and the fields under them
    are known absent from segments whose record is of another type; decoding is left for the
    rest."""
    write_pcap(tmp_path / "tls.pcap", 1, [*odd_frames(), *app_frames()])
    trace = open_trace(tmp_path / "tls.pcap", use_cache=False)
    ct = columns_for(trace).get(trace.registry.get("TLS.Record.ContentType"))
    states = ct.states()
    assert (states == PRESENT).sum() >= 10
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    maybe = (states == DECODE) | ((states == PRESENT) & np.isin(ct.values, (21, 22)))
    assert cf.last_stats.decoded <= int(maybe.sum()), (expr, cf.last_stats.decoded)


def _smb_responses() -> list[bytes]:
    from app_frames import _smb2_header, smb_frames

    def resp(status: int, mid: int, **kw) -> bytes:
        return _smb2_header(5, mid, response=True, status=status, **kw) + struct.pack("<HBBI", 9, 0, 0, 0) + b"\x00"

    ok = _smb2_header(5, 20, response=True) + bytes(88)
    more = resp(0xC0000016, 21)  # STATUS_MORE_PROCESSING_REQUIRED
    compound = resp(0xC0000034, 22, nxt=72) + resp(0xC0000022, 23, related=True)
    sealed = b"\xfdSMB" + bytes(48) + b"encrypted"
    return [*smb_frames(), _tcp4(445, 50010, _nbss(ok)), _tcp4(445, 50010, _nbss(more)),
            _tcp4(445, 50010, _nbss(compound)), _tcp4(445, 50010, _nbss(sealed)),
            _tcp4(445, 50010, _nbss(resp(0xC000000D, 24)) + _nbss(resp(0, 25))),  # two NbtSS messages
            _tcp4(445, 50010, _nbss(resp(0xC0000022, 26))[:40])]  # a header cut short


@pytest.mark.parametrize("expr", ["SMB2.Header.Status >= 0xC0000000", "smb2.header.Status.code == 0xC0000022",
                                  "SMB2.Status == 0", "SMB2.Header.Status",
                                  ("(SMB2.Header.Status >= 0xC0000000 AND SMB2.Header.Status != 0xC0000016) OR "
                                   "(SMB.Status >= 0xC0000000 AND SMB.Status != 0xC0000016)")])
def test_smb2_status_comes_from_its_column(tmp_path: Path, expr: str) -> None:
    """The standard "SMB errors" preset: a response's status is read at byte 8 of its header when
    the segment holds one NbtSS message with one SMB2 message; compounds and segments with a
    second message are decoded."""
    write_pcap(tmp_path / "smb.pcap", 1, _smb_responses())
    trace = open_trace(tmp_path / "smb.pcap", use_cache=False)
    col = columns_for(trace).get(trace.registry.get("SMB2.Header.Status"))
    states = col.states()
    assert sorted(col.values[states == PRESENT].tolist()) == [0, 0xC0000016, 0xC0000022]
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert fast.any() and np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    smb1 = 1 if "SMB.Status" in expr else 0  # (the SMB1 frame is decoded for its own status)
    assert cf.last_stats.decoded <= int((states == DECODE).sum()) + smb1  # the compounds and two messages
    assert int((states == DECODE).sum()) == 3


def _host_columns(trace: object, native: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[str]]:
    """HTTP.Host's column built by the C scan or by the NumPy windows (``_Messages.host``): per
    frame its state and its text (so the two tables may number values differently)."""
    from tracemon.traces import httpcols

    with monkeypatch.context() as m:
        if not native:
            m.setattr(httpcols, "_native_host", None)
        col = httpcols.build(trace, trace.registry.get("HTTP.Host"))  # type: ignore[attr-defined]
    states = col.states().tolist()
    texts = [col.table[c] if c >= 0 else "" for c in col.codes.tolist()]
    return states, texts


@pytest.mark.skipif(__import__("tracemon.traces.httpcols", fromlist=["x"])._native_host is None,
                    reason="the C extension _scan is not built")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(http=st.lists(st.tuples(http_payload(), st.sampled_from([80, 8080, 9999])), min_size=1, max_size=8),
       pad=st.sampled_from([0, 0, 240, 250, 4090, 5000]), lines=st.sampled_from([0, 0, 199, 201]))
def test_the_c_host_scan_is_the_numpy_one(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                          http: list[tuple[bytes, int]], pad: int, lines: int) -> None:
    """Random messages, some with headers padded past the first window or past the whole one, or
    with about ``MAX_LINES`` header lines: the C scan answers as the NumPy reference, message for
    message (and both as the dissector: the other tests)."""
    frames = []
    for data, port in http:
        at = data.find(b"\n") + 1
        if at and (pad or lines):  # (after the first line)
            data = data[:at] + b"X-Pad: " + b"p" * pad + b"\r\n" + b"A: b\r\n" * lines + data[at:]
        frames.append(_tcp4(50000, port, data))
    path = tmp_path_factory.mktemp("host") / "h.pcap"
    write_pcap(path, 1, frames)
    trace = open_trace(path, use_cache=False)
    assert _host_columns(trace, True, monkeypatch) == _host_columns(trace, False, monkeypatch)


def test_the_c_host_scan_answers_the_odd_frames_as_the_numpy_one(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tracemon.traces import httpcols

    if httpcols._native_host is None:
        pytest.skip("the C extension _scan is not built")
    path = tmp_path / "odd.pcap"
    write_pcap(path, 1, odd_frames())
    trace = open_trace(path, use_cache=False)
    native = _host_columns(trace, True, monkeypatch)
    assert native == _host_columns(trace, False, monkeypatch)
    assert native[0].count(DECODE) == 4 and "past-first-window" in native[1]
