"""NTP, DHCPv6, SSDP, RDP's connection setup (TPKT, X.224, RDPBCGR) and GSS-API/SPNEGO tokens in
HTTP authentication headers, against tshark: on the hand-built frames of ``more_app_frames`` and on
every sample that carries them (the DHCPv6 Solicits of the MS-FASOD capture, the SSDP M-SEARCH of
the netsh ETL, WinRM's Kerberos tokens in the MS-WMOD capture); the Description column, filters,
the index's vectorised classification, and hostile input.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import struct
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import more_app_frames as M
import numpy as np
import pytest
import test_classify
from conftest import SAMPLES, require_tshark
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_robustness import run
from test_dissect_synthetic import eth, ipv4, ipv6, tcp, udp, write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import Frame, open_trace
from tracemon.traces.dissect import dissect
from tracemon.traces.dissect.ntp import ntp_time

NO_REASSEMBLY = ("-o", "ip.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
                 "-o", "tcp.no_subdissector_on_error:FALSE")
FASOD = SAMPLES / "pcapng" / "msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"
WMOD = SAMPLES / "netmon" / "msprotod_MS-WMOD_Example6_WS2016_X64_Win10_X64_Domain_Hagala.cap"
WIFI_ETL = SAMPLES / "etl" / "netsh_ndis_wifi_1pkt.etl"
#: (tshark field, our field, our value → tshark's text)
Spec = list[tuple[str, str, Callable[[object], str]]]


@lru_cache(maxsize=32)
def _tshark(path: str, *args: str) -> str:
    return subprocess.run([require_tshark(), "-n", "-r", path, *NO_REASSEMBLY, *args], capture_output=True,
                          text=True, check=True, timeout=120).stdout


def _frames(datas: list[bytes], link: int = 1) -> list[Frame]:
    out = []
    for i, data in enumerate(datas):
        ctx = dissect(data, link)
        out.append(Frame(i, 0, data, ctx.layers, len(data), len(data), link_type=link))
    return out


def _pcap(tmp: Path, name: str, datas: list[bytes], link: int = 1) -> Path:
    path = tmp / f"{name}.pcap"
    write_pcap(path, link, datas)
    return path


def _compare(path: Path, frames: list[Frame], spec: Spec, *args: str, numbers: list[int] | None = None,
             skip: dict[int, str] | None = None) -> None:
    """Each tshark field of ``spec`` equals ours (the values in order) on every frame of ``path``
    (or the frames ``numbers``, 1-based, with ``frames`` given in that order); ``a+b`` is the values
    of tshark's field ``a`` then ``b`` (and of ours); ``skip``: frame → a tshark field not compared there."""
    cmd = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number"]
    names = sorted({n for ts, _, _ in spec for n in ts.split("+")})
    for n in names:
        cmd += ["-e", n]
    rows = {int(r[0]): r[1:] for r in (line.split("\t") for line in _tshark(str(path), *args, *cmd).splitlines())}
    numbers = numbers or list(range(1, len(frames) + 1))
    assert len(numbers) == len(frames)
    problems = []
    for number, frame in zip(numbers, frames, strict=True):
        got = dict(zip(names, rows[number], strict=True))
        for ts, ours_name, conv in spec:
            if (skip or {}).get(number) == ts:
                continue
            want = [v for n in ts.split("+") for v in got[n].split("|") if v]
            ours = [conv(v) for n in ours_name.split("+") for v in frame.values(n)]
            if ours != want:
                problems.append(f"frame {number} {ts}: tshark {want}, ours {ours}")
    assert not problems, "\n".join(problems)


def _ts_time(ns: object) -> str:
    if ns is None:
        return "NULL"
    assert isinstance(ns, int)
    secs, rest = divmod(ns, 1_000_000_000)
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=secs)
    return f"{t:%b} {t.day:2d}, {t.year} {t:%H:%M:%S}.{rest:09d} UTC"


def _refid(v: object) -> str:
    assert isinstance(v, str)
    try:
        return socket.inet_aton(v).hex() if v.count(".") == 3 else v.encode().ljust(4, b"\0").hex()
    except OSError:
        return v.encode().ljust(4, b"\0").hex()


def _hex_int(width: int) -> Callable[[object], str]:
    return lambda v: f"0x{v:0{width}x}"


def _mac(v: object) -> str:
    assert isinstance(v, int)
    return v.to_bytes(6, "big").hex(":")


def _v6(v: object) -> str:
    assert isinstance(v, int)
    return socket.inet_ntop(socket.AF_INET6, v.to_bytes(16, "big"))


def _cookie(v: object) -> str:
    """Ours keeps the cookie's value (mstshash=…) and the routing token's whole line (Cookie: msts=…)."""
    assert isinstance(v, str)
    return v if v.startswith("Cookie: ") else f"Cookie: {v}"


NTP_SPEC: Spec = [
    ("ntp.flags.li", "NTP.LeapIndicator", str), ("ntp.flags.vn", "NTP.VersionNumber", str),
    ("ntp.flags.mode", "NTP.Mode", str), ("ntp.stratum", "NTP.Stratum", str), ("ntp.ppoll", "NTP.PollInterval", str),
    ("ntp.precision", "NTP.Precision", lambda v: str(v & 0xFF)),  # type: ignore[operator]
    ("ntp.rootdelay", "NTP.RootDelay", lambda v: str(round(v * 65536))),  # type: ignore[operator]
    ("ntp.rootdispersion", "NTP.RootDispersion", lambda v: str(round(v * 65536))),  # type: ignore[operator]
    ("ntp.refid", "NTP.ReferenceIdentifier", _refid), ("ntp.reftime", "NTP.ReferenceTimestamp", _ts_time),
    ("ntp.org", "NTP.OriginateTimestamp", _ts_time), ("ntp.rec", "NTP.ReceiveTimestamp", _ts_time),
    ("ntp.xmt", "NTP.TransmitTimestamp", _ts_time), ("ntp.keyid", "NTP.KeyIdentifier", lambda v: f"{v:08x}"),
    ("ntp.mac", "NTP.MessageDigest", lambda v: v.hex()),  # type: ignore[attr-defined]
]
DHCPV6_SPEC: Spec = [
    ("dhcpv6.msgtype", "DHCPv6.MessageType", str), ("dhcpv6.xid", "DHCPv6.TransactionID", _hex_int(6)),
    ("dhcpv6.hopcount", "DHCPv6.HopCount", str), ("dhcpv6.linkaddr", "DHCPv6.LinkAddress", _v6),
    ("dhcpv6.peeraddr", "DHCPv6.PeerAddress", _v6), ("dhcpv6.iaid", "DHCPv6.IAID", lambda v: f"{v:08x}"),
    # (the client's DUID is type 1 (LLT) and comes first in every crafted frame, the server's type 3)
    ("dhcpv6.duidllt.link_layer_addr+dhcpv6.duidll.link_layer_addr", "DHCPv6.DUIDLinkLayerAddress", _mac),
    ("dhcpv6.iaaddr.ip", "DHCPv6.IAAddress", _v6), ("dhcpv6.iaprefix.pref_addr", "DHCPv6.IAPrefix", _v6),
    ("dhcpv6.iaprefix.pref_len", "DHCPv6.PrefixLength", str), ("dhcpv6.status_code", "DHCPv6.StatusCode", str),
    ("dhcpv6.dns_server", "DHCPv6.DNSServer", _v6),
    ("dhcpv6.search_list_entry", "DHCPv6.DomainSearchList", lambda v: f"{v}."),
    ("dhcpv6.client_domain", "DHCPv6.ClientFQDN", lambda v: f"{v}."),
    ("dhcpv6.requested_option_code", "DHCPv6.RequestedOption", str),
    ("dhcpv6.elapsed_time", "DHCPv6.ElapsedTime", lambda v: str(v * 10)),  # type: ignore[operator]
    ("dhcpv6.vendorclass.enterprise", "DHCPv6.EnterpriseNumber", str),
    ("dhcpv6.option_preference", "DHCPv6.Preference", str),
]
SSDP_SPEC: Spec = [
    ("http.request.method", "SSDP.Request.Method", str), ("http.request.uri", "SSDP.Request.URI", str),
    ("http.response.code", "SSDP.Response.StatusCode", str), ("http.host", "SSDP.Host", str),
    ("http.location", "SSDP.Location", str), ("http.server", "SSDP.Server", str),
    ("http.cache_control", "SSDP.CacheControl", str),
]
RDP_SPEC: Spec = [
    ("tpkt.length", "TPKT.PacketLength", str), ("cotp.type", "X224.Type", _hex_int(2)),
    ("cotp.destref", "X224.DestinationReference", _hex_int(4)), ("cotp.srcref", "X224.SourceReference", _hex_int(4)),
    ("rdp.rt_cookie", "RDPBCGR.Cookie+RDPBCGR.RoutingToken", _cookie),
    ("rdp.neg_type", "RDPBCGR.NegotiationType", _hex_int(2)),
    ("rdp.negReq.requestedProtocols", "RDPBCGR.RequestedProtocols", _hex_int(8)),
    ("rdp.negReq.selectedProtocol", "RDPBCGR.SelectedProtocol", _hex_int(8)),
    ("rdp.negFailure.failureCode", "RDPBCGR.FailureCode", _hex_int(8)),
    ("tls.handshake.type", "TLS.TlsRecLayer.TlsRecordLayer.SSLHandshake.HandShake.HandShakeType", str),
]
GSS_SPEC: Spec = [
    ("spnego.MechType", "GSSAPI.MechType", str), ("spnego.negResult", "GSSAPI.NegState", str),
    ("spnego.supportedMech", "GSSAPI.SupportedMech", str),
    ("spnego.krb5.tok_id", "GSSAPI.KerberosTokenID", _hex_int(4)),
    ("kerberos.msg_type", "KerberosV5.Message.MessageType", str),
    ("kerberos.error_code", "KerberosV5.Message.ErrorCode", str),
    ("ntlmssp.messagetype", "NTLMSSP.MessageType", _hex_int(8)),
]


@pytest.mark.tshark
def test_ntp_equals_tshark(tmp_path: Path) -> None:
    datas = M.ntp_frames()
    _compare(_pcap(tmp_path, "ntp", datas), _frames(datas), NTP_SPEC)


@pytest.mark.tshark
def test_dhcpv6_equals_tshark(tmp_path: Path) -> None:
    datas = M.dhcpv6_frames()
    _compare(_pcap(tmp_path, "dhcpv6", datas), _frames(datas), DHCPV6_SPEC)


@pytest.mark.tshark
def test_dhcpv6_sample_equals_tshark() -> None:
    trace = open_trace(FASOD, use_cache=False)
    numbers = [int(x) for x in _tshark(str(FASOD), "-Y", "dhcpv6", "-T", "fields", "-e", "frame.number").split()]
    assert len(numbers) == 7
    frames = [trace.frame(n - 1) for n in numbers]
    _compare(FASOD, frames, DHCPV6_SPEC, numbers=numbers)
    assert frames[0].values("DHCPv6.ClientDUID") == [bytes.fromhex("0001000120528a29549f350c3768")]
    assert frames[0].values("DHCPv6.VendorClassData") == ["MSFT 5.0"]


@pytest.mark.tshark
def test_ssdp_equals_tshark(tmp_path: Path) -> None:
    datas = M.ssdp_frames()
    path = _pcap(tmp_path, "ssdp", datas)
    _compare(path, _frames(datas), SSDP_SPEC)
    assert _tshark(str(path), "-T", "fields", "-e", "_ws.col.Protocol").split() == ["SSDP"] * len(datas)


@pytest.mark.tshark
def test_ssdp_in_the_wifi_etl_equals_tshark(tmp_path: Path) -> None:
    """The netsh capture's one packet is an M-SEARCH over 802.11: its 802.11 frame, written to a pcap
    for tshark, gives tshark's values; ours are read from the ETL."""
    trace = open_trace(WIFI_ETL, use_cache=False)
    hits = [trace.frame(i) for i in range(len(trace)) if "SSDP" in trace.frame(i).protocols]
    assert len(hits) == 1
    frame = hits[0]
    wifi = frame.layer("WiFi")
    assert wifi is not None
    path = _pcap(tmp_path, "wifi", [frame.data[wifi.start :]], link=105)
    _compare(path, [frame], SSDP_SPEC)
    assert frame.values("SSDP.SearchTarget") == ["urn:schemas-upnp-org:device:InternetGatewayDevice:1"]
    assert frame.values("SSDP.Man") == ['"ssdp:discover"'] and frame.values("SSDP.MX") == ["3"]


@pytest.mark.tshark
def test_rdp_equals_tshark(tmp_path: Path) -> None:
    """tshark 4.0 does not switch the connection to TLS after the confirm (it shows 'TPKT Continuation'):
    the TLS frame is compared with TLS decoding asked for on the port."""
    datas = M.rdp_frames()
    path = _pcap(tmp_path, "rdp", datas)
    frames = _frames(datas)
    setup = [n for n in range(1, len(datas) + 1) if n != 3]
    # a class-0 data PDU has no references: tshark shows a destination reference of 0 all the same
    _compare(path, [frames[n - 1] for n in setup], RDP_SPEC, numbers=setup, skip={6: "cotp.destref"})
    _compare(path, [frames[2]], RDP_SPEC[-1:], "-d", "tcp.port==3389,tls", numbers=[3])
    assert frames[2].protocols[-1] == "TLS"


@pytest.mark.tshark
def test_gssapi_in_http_equals_tshark(tmp_path: Path) -> None:
    datas = M.negotiate_frames()
    _compare(_pcap(tmp_path, "negotiate", datas), _frames(datas), GSS_SPEC)


def _tso_fixed(trace, numbers: list[int]) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The frames with their IPv6 payload length filled in (0 in the capture: segmentation offload),
    which tshark needs to decode them."""
    out = []
    for n in numbers:
        data = bytearray(trace.frame(n - 1).data)
        assert data[12:14] == b"\x86\xdd" and data[18:20] == b"\x00\x00"
        data[18:20] = struct.pack("!H", len(data) - 54)
        out.append(bytes(data))
    return out


@pytest.mark.tshark
def test_winrm_kerberos_tokens_equal_tshark(tmp_path: Path) -> None:
    """WinRM's ``Kerberos`` scheme: the server's AP-REPs as captured, and the clients' AP-REQs (frames
    whose IPv6 length the capture left 0) with the length filled in."""
    trace = open_trace(WMOD, use_cache=False)
    replies = [int(x) for x in _tshark(str(WMOD), "-Y", "http.www_authenticate", "-T", "fields",
                                       "-e", "frame.number").split()]
    assert replies == [22, 34, 58]
    _compare(WMOD, [trace.frame(n - 1) for n in replies], GSS_SPEC, numbers=replies)
    requests = [20, 32, 56]
    path = _pcap(tmp_path, "winrm", _tso_fixed(trace, requests))
    frames = [trace.frame(n - 1) for n in requests]
    spec = [*GSS_SPEC, ("kerberos.realm", "KerberosV5.Message.Realm", str)]
    _compare(path, frames, spec)
    assert all(f.values("KerberosV5.Message.SName") == ["HTTP/SUT01"] for f in frames)


def test_descriptions() -> None:
    d = [dissect(data, 1).description for data in M.ntp_frames()]
    assert d[0] == "NTP:Client, Version=4, Stratum=0, TransmitTime=2026-12-06 03:30:11.500000 UTC"
    assert d[2] == "NTP:Server, Version=3, Stratum=1, ReferenceID=GPS, TransmitTime=2036-02-07 06:28:17.000000 UTC"
    assert d[4] == "NTP:Control, Version=2"
    assert d[5] == "NTP:Client, Version=4, Stratum=0 [Malformed: 30 bytes, an NTP header needs 48]"
    d = [dissect(data, 1).description for data in M.dhcpv6_frames()]
    assert d[0] == "DHCPv6:Solicit, TransactionID = 0x123456"
    assert d[1] == "DHCPv6:Advertise, TransactionID = 0x123456, Address = 2001:db8::10"
    assert d[2] == "DHCPv6:Reply, TransactionID = 0xABCDEF, Status = NoAddrsAvail"
    assert d[3] == "DHCPv6:Request, TransactionID = 0x000007, Prefix = 2001:db8:ab00::/56"
    assert d[6] == ("DHCPv6:Relay-reply, HopCount = 0, LinkAddress = 2001:db8:1::1, PeerAddress = fe80::2; "
                    "Reply, TransactionID = 0xABCDEF, Status = NoAddrsAvail")
    assert d[7].startswith("DHCPv6:Solicit, TransactionID = 0x123456 [Malformed: option IA_NA needs 12 bytes")
    d = [dissect(data, 1).description for data in M.ssdp_frames()]
    assert d[0] == "SSDP:Request, M-SEARCH *, ST = urn:dial-multiscreen-org:service:dial:1"
    assert d[1] == ("SSDP:Response, HTTP/1.1, Status: 200 OK, ST = upnp:rootdevice, "
                    "Location = http://10.0.0.9:49152/desc.xml")
    assert d[2].startswith("SSDP:Request, NOTIFY *, NT = urn:schemas-upnp-org:device:MediaServer:1, NTS = ssdp:alive")
    assert d[3] == "SSDP:Request, M-SEARCH * [truncated]"
    d = [dissect(data, 1).description for data in M.rdp_frames()]
    assert d[0] == "RDPBCGR:Connection Request, Cookie = mstshash=alice, RequestedProtocols = TLS, CredSSP, CredSSP-EX"
    assert d[1] == "RDPBCGR:Connection Confirm, SelectedProtocol = CredSSP"
    assert d[2].startswith("TLS:") and "Client Hello" in d[2]
    assert d[4] == "RDPBCGR:Connection Confirm, Failure = HYBRID_REQUIRED_BY_SERVER"
    assert d[5] == "X224:Data"
    assert d[6] == "RDPBCGR:Connection Request, Cookie = m [truncated]"


def test_gssapi_layers_and_summaries() -> None:
    """The carrier stays HTTP; the token's layers follow it, with no byte ranges of their own."""
    frames = _frames(M.negotiate_frames())
    first = frames[0]
    assert first.protocols[-4:] == ["HTTP", "GSSAPI", "GSSAPI", "KerberosV5"]
    gss = [layer for layer in first.layers if layer.protocol.name == "GSSAPI"]
    assert gss[0].summary == "SPNEGO NegTokenInit, MechTypes = MS Kerberos 5, Kerberos 5, NTLMSSP, Kerberos"
    assert gss[1].summary == "Kerberos, KRB5_AP_REQ"
    auth = first.fields("HTTP.Authorization")[0]
    assert gss[0].start == auth.start and gss[0].length == auth.length
    assert all(f.start == -1 for layer in first.layers[-3:] for f in layer.walk())
    assert frames[3].layer("GSSAPI").summary == (  # type: ignore[union-attr]
        "SPNEGO NegTokenResp, NegState = accept-incomplete, SupportedMech = NTLMSSP, NTLMSSP")
    assert frames[5].values("Property.NTLMSSPSummary") == []
    assert frames[4].values("Property.NTLMSSPSummary") == [
        "NTLM AUTHENTICATE MESSAGE Version:NTLM v2, Domain: CONTOSO, User: alice, Workstation: PC01"]
    assert frames[6].values("KerberosV5.Message.SName") == ["HTTP/wsman01"]
    # NTLMSSP inside SPNEGO is shown once (NTLMSSP's own header hook takes only bare NTLMSSP tokens)
    assert [len(f.values("NTLMSSP.MessageType")) for f in frames] == [0, 0, 1, 1, 1, 0, 0]


def test_ntp_era_and_unset_times() -> None:
    assert ntp_time(0) is None
    assert ntp_time(M.NTP_ERA1) == 2085978496 * 10**9 + 10**9  # 2036-02-07 06:28:17 UTC: era 1
    assert ntp_time((2208988800 + 1) << 32) == 10**9  # 1970-01-01 00:00:01


@pytest.fixture(scope="module")
def all_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pcap(tmp_path_factory.mktemp("apps2"), "all", M.frames())


def _ours(trace, expr: str) -> list[int]:  # type: ignore[no-untyped-def]
    return (np.flatnonzero(compile_filter(expr, trace=trace).evaluate(trace)) + 1).tolist()


@pytest.mark.tshark
def test_app_filters_select_what_tshark_selects(all_pcap: Path) -> None:
    trace = open_trace(all_pcap, use_cache=False)

    def theirs(expr: str, *args: str) -> list[int]:
        return [int(x) for x in _tshark(str(all_pcap), *args, "-Y", expr, "-T", "fields", "-e", "frame.number").split()]

    assert _ours(trace, "NTP") == theirs("ntp")
    assert _ours(trace, "NTP.Mode == 3") == theirs("ntp.flags.mode == 3")
    assert _ours(trace, "NTP.Stratum == 1") == theirs("ntp.stratum == 1")
    assert _ours(trace, "DHCPv6") == theirs("dhcpv6")
    # the "DHCPv6 failures" preset
    assert _ours(trace, "DHCPv6.StatusCode > 0") == theirs("dhcpv6.status_code > 0") != []
    assert _ours(trace, "DHCPv6.MessageType == 12") == theirs("dhcpv6.msgtype == 12")
    assert _ours(trace, "SSDP") == theirs("ssdp")
    assert _ours(trace, "TPKT") == theirs("tpkt && !tpkt.continuation_data")
    assert _ours(trace, "X224") == theirs("cotp")
    assert _ours(trace, "RDP") == _ours(trace, "RDPBCGR") == theirs("rdp.neg_type || rdp.rt_cookie")
    assert _ours(trace, "(RDPBCGR.RequestedProtocols & 2) == 2") == theirs("rdp.negReq.requestedProtocols.hybrid == 1")
    assert _ours(trace, "GSSAPI") == _ours(trace, "SPNEGO") == theirs("spnego || gss-api")
    assert _ours(trace, "GSSAPI.NegState == 2") == theirs("spnego.negResult == 2")


@pytest.mark.tshark
def test_presets_select_what_tshark_selects(all_pcap: Path) -> None:
    from tracemon.filters.presets import PresetStore

    presets = {p.name: p for p in PresetStore().standard()}
    trace = open_trace(all_pcap, use_cache=False)
    for name, theirs in (("DHCPv6 failures", "dhcpv6.status_code > 0"), ("DHCPv6", "dhcpv6"), ("NTP", "ntp"),
                         ("NTP servers not synchronized",
                          "ntp.flags.mode == 4 && (ntp.flags.li == 3 || ntp.stratum == 0)"),
                         ("RDP negotiation failures", "rdp.negFailure.failureCode"),
                         ("RDP connection setup", "rdp.neg_type || rdp.rt_cookie"),
                         ("SPNEGO rejections", "spnego.negResult == 2"),
                         ("Kerberos and NTLM in HTTP", "spnego || gss-api"), ("Remove SSDP", "!ssdp")):
        want = [int(x) for x in _tshark(str(all_pcap), "-Y", theirs, "-T", "fields", "-e", "frame.number").split()]
        assert _ours(trace, presets[name].expression) == want != [], name


def test_index_classification_agrees_with_the_dissectors(all_pcap: Path) -> None:
    from tracemon.traces import fastapps
    from tracemon.traces.dissect.core import TCP_PORTS, UDP_PORTS

    test_classify.test_fast_path_agrees_with_dissectors(all_pcap)
    udp_rules, tcp_rules = fastapps._rules("udp", UDP_PORTS), fastapps._rules("tcp", TCP_PORTS)
    for port, name in ((123, "NTP"), (546, "DHCPv6"), (547, "DHCPv6"), (1900, "SSDP")):
        assert udp_rules[port] == 3 + fastapps._RULE_NAMES.index(name)
    assert tcp_rules[3389] == 3 + fastapps._RULE_NAMES.index("RDP")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(token=st.binary(max_size=300), cut=st.integers(0, 300), scheme=st.sampled_from(["Negotiate", "Kerberos"]),
       which=st.integers(0, 6))
def test_damaged_tokens_never_raise(token: bytes, cut: int, scheme: str, which: int) -> None:
    """Random tokens, and the crafted ones cut anywhere, in an Authorization header."""
    good = M.neg_init([M.MS_KRB5, M.NTLM], M.gss_krb5(1, M.ap_req("R", "HTTP", "h"))) if which < 3 else \
        M.neg_resp(which % 3, M.NTLM, M.ntlm_challenge())
    blob = good[:cut] + token if which % 2 else token
    text = b"GET / HTTP/1.1\r\nAuthorization: " + scheme.encode() + b" " + base64.b64encode(blob) + b"\r\n\r\n"
    run(eth(0x0800, ipv4(6, tcp(50000, 80, 0x018, text))), 1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(which=st.integers(0, 30), at=st.integers(0, 400), noise=st.binary(max_size=40), cut=st.integers(0, 400))
def test_damaged_messages_never_raise(which: int, at: int, noise: bytes, cut: int) -> None:
    """The crafted NTP, DHCPv6, SSDP and RDP frames with bytes spliced in and cut anywhere."""
    frames = [*M.ntp_frames(), *M.dhcpv6_frames(), *M.ssdp_frames(), *M.rdp_frames()]
    data = frames[which % len(frames)]
    data = data[: 42 + at] + noise + data[42 + at :]
    run(data[: 42 + cut] if cut else data, 1)


def test_deep_relays_and_long_lists_are_bounded() -> None:
    msg = b"\x01\x00\x00\x01"
    for _ in range(40):
        msg = b"\x0c\x00" + bytes(32) + struct.pack("!HH", 9, len(msg)) + msg
    ctx = run(eth(0x86DD, ipv6(17, udp(547, 547, msg[:65000]))), 1)
    assert "nested deeper than" in ctx.description
    domains = struct.pack("!HH", 24, 2000) + b"\x01a\x00" * 666 + b"\x00\x00"
    ctx = run(eth(0x86DD, ipv6(17, udp(546, 547, b"\x01\x00\x00\x01" + domains))), 1)
    frame = Frame(0, 0, b"", ctx.layers, 0, 0)
    assert len(frame.values("DHCPv6.DomainSearchList")) <= 128


def test_every_payload_on_the_ports_is_that_protocol() -> None:
    """What the index's port rules assume: any bytes on these ports give that layer (and port 3389
    gives TLS unless a TPKT header starts the segment)."""
    for data in (b"\x00", b"x" * 7, bytes(range(60)), b"\xff" * 3):
        for port, name in ((123, "NTP"), (546, "DHCPv6"), (547, "DHCPv6"), (1900, "SSDP")):
            ctx = run(eth(0x0800, ipv4(17, udp(50000, port, data))), 1)
            assert ctx.protocol_name == name, (port, data)
        ctx = run(eth(0x0800, ipv4(6, tcp(50000, 3389, 0x018, data))), 1)
        assert ctx.protocol_name == "TLS", data
