"""``_walk.walk_apps`` (what TCP and UDP carry, in C) against ``fastwalk._carries`` (the NumPy
rules of ``fastapps``): every column of the walk must be the same, over payloads made to reach
each rule and its near misses, with the dispatch tables as shipped and as a test may change them."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.traces import fastapps, fastwalk
from tracemon.traces.dissect import core as _core
from tracemon.traces.dissect import dcerpc as _dcerpc
from tracemon.traces.dissect import nbns as _nbns

pytestmark = pytest.mark.skipif(fastapps._native_apps is None or fastwalk._native_walk is None,
                                reason="the C extensions were not built")

_PORTS = [53, 80, 88, 135, 139, 389, 443, 445, 500, 4500, 3389, 5353, 5355, 137, 123, 547, 1900, 8080, 1234, 50000]


def _nbss(rng: random.Random) -> bytes:
    """An NbtSS message: a header of some type and length, then SMB, SMB2 (with the fields the pipe
    and session-setup rules read) or anything."""
    magic = rng.choice([b"\xffSMB", b"\xfeSMB", b"\xfeSMB", b"\xfeSMB", b"\xfdSMB", b"\xfcSMB", b"\xfbSMB", rng.randbytes(4)])
    smb2 = bytearray(rng.randbytes(60))
    smb2[8:10] = struct.pack("<H", rng.choice([1, 8, 9, 11, 5, rng.randrange(65536)]))  # command (after the magic)
    smb2[12] = rng.choice([0, 1, rng.randrange(256)])  # flags: the response bit
    smb2[16:20] = rng.choice([bytes(4), bytes(4), rng.randbytes(4)])  # the next command (compounded)
    body = bytearray(rng.randbytes(rng.choice([0, 4, 8, 40])))
    if len(body) >= 8:
        body[2] = rng.choice([0x70, 64 + 48, rng.randrange(256)])
        body[3] = rng.choice([0, 0, 1])
        body[4:8] = rng.choice([struct.pack("<I", 0x0011C017), rng.randbytes(4)])
    at = rng.choice([b"\x05\x00", b"\x05\x01", b"\x05\x02", b"\x04\x00"])
    msg = bytes(magic + smb2 + body + at + rng.randbytes(rng.randrange(0, 20)))
    msg = msg[: rng.choice([len(msg)] * 4 + [3, 10, 60, 70])]
    kind = rng.choice([0, 0, 0, 0, 0, 0x81, 0x85, 0x82, 7, rng.randrange(256)])
    flags = rng.choice([0, 0, 1, 2])
    length = rng.choice([len(msg), len(msg), len(msg) - 5, len(msg) + 9, 0, rng.randrange(1 << 17)]) & 0x1FFFF
    head = bytes([kind, flags | (length >> 16)]) + struct.pack(">H", length & 0xFFFF)
    second = rng.choice([b"", b"", head + msg[:8]])  # a second message in the segment
    return (head + msg + second)[: rng.choice([1000] * 6 + [2, 4, 7])]


def _rpc(rng: random.Random) -> bytes:
    """A DCE/RPC PDU header (and body), valid or off by one field."""
    little = rng.choice([0x10, 0x10, 0])
    ptype = rng.choice([*sorted(_dcerpc.CO_PTYPES), 1, 4, 21, rng.randrange(256)])
    auth = rng.choice([0, 0, 16, rng.randrange(65536)])
    body = rng.randbytes(rng.choice([0, 8, 24, 60]))
    frag = rng.choice([16 + len(body), 16 + len(body), 16 + len(body) - 20, 8, 16 + len(body) + 40, rng.randrange(65536)])
    fmt = "<HH" if little else ">HH"
    head = bytes([rng.choice([5, 5, 5, 4]), rng.choice([0, 1, 2]), ptype, rng.choice([3, 3, 0x23, 0x10]),
                  little | rng.choice([0, 0, 0, 1, 0x20]), rng.choice([0, 0, 1, 4]), rng.choice([0, 0, 0, 1]),
                  rng.choice([0, 0, 0, 2])]) + struct.pack(fmt, frag & 0xFFFF, auth) + rng.randbytes(4)
    pdu = head + body
    return (pdu + rng.choice([b"", b"", pdu]))[: rng.choice([1000, 1000, 15, 16, 20])]


def _http(rng: random.Random) -> bytes:
    """An HTTP message start, with or without an authentication scheme in its headers, and blank
    lines of every kind; or a prefix it almost starts with."""
    first = rng.choice([b"GET / HTTP/1.1", b"POST /x HTTP/1.1", b"HTTP/1.1 401 Unauthorized", b"OPTIONS * HTTP/1.0",
                        b"GE / HTTP/1.1", b"HTTP/2 200", b"get / HTTP/1.1", b"PUT /a HTTP/1.1", b"HTTP/1.0 200 OK",
                        b"GET /ntlm"])
    headers = [b"Host: a.example", rng.choice([b"Authorization: NTLM TlRMTVNTUAAB", b"WWW-Authenticate: Negotiate",
                                               b"X-Kind: KERBEROS", b"Accept: */*", b"X-Note: ntl m"])]
    rng.shuffle(headers)
    blank = rng.choice([b"\r\n\r\n", b"\n\n", b"\r\n\r\r\n", b"\r\n"])
    body = rng.choice([b"", b"ntlm in the body", b"negotiate", rng.randbytes(10)])
    return (first + b"\r\n" + b"\r\n".join(headers) + blank + body)[: rng.choice([1000, 1000, 9, 12, 15, 16, 30])]


#: per kind of payload: the ports it is made for (the other port of a frame is a high one, so the
#: rule of the first decides), and whether it goes over UDP
_KINDS = {"nbss": ([139, 445], False), "rpc": ([135, 50000], False), "http": ([80, 8080, 1234], False),
          "tpkt": ([3389], False), "natt": ([4500], True), "short": ([53, 5353, 5355, 137, 88], True),
          "random": (_PORTS, None), "empty": (_PORTS, None)}


def _payload(rng: random.Random, kind: str) -> bytes:
    if kind == "nbss":
        return _nbss(rng)
    if kind == "rpc":
        return _rpc(rng)
    if kind == "http":
        return _http(rng)
    if kind == "tpkt":
        return rng.choice([b"\x03\x00\x00\x13\x0e\xe0", b"\x03\x01\x00\x13", b"\x03\x00", b"\x16\x03\x01\x00\x05"])
    if kind == "natt":
        return rng.choice([b"\xff", b"\xff" + bytes(4), b"\xfe", bytes(4) + rng.randbytes(20), bytes(3), rng.randbytes(8)])
    if kind == "short":
        return rng.randbytes(rng.randrange(1, 20))
    if kind == "empty":
        return b""
    return rng.randbytes(rng.randrange(0, 80))


def _frame(rng: random.Random) -> bytes:
    """An Ethernet frame of TCP or UDP over IPv4 or IPv6: mostly a payload on a port made for it,
    sometimes on any port of the rules."""
    kind = rng.choice(list(_KINDS))
    ports, over_udp = _KINDS[kind]
    pay = _payload(rng, kind)
    if rng.random() < 0.75:
        sport, dport = rng.choice(ports), rng.randrange(49152, 65536)
        udp = over_udp if over_udp is not None else rng.random() < 0.4
        if rng.random() < 0.5:
            sport, dport = dport, sport
    else:
        sport, dport, udp = rng.choice(_PORTS), rng.choice(_PORTS), rng.random() < 0.4
    if udp:
        l4 = struct.pack(">HHHH", sport, dport, 8 + len(pay), 0) + pay
    else:
        l4 = struct.pack(">HHIIBBHHH", sport, dport, 1, 2, 5 << 4, 0x18, 100, 0, 0) + pay
    proto = 17 if udp else 6
    if rng.random() < 0.8:
        cut = rng.choice([0, 0, 0, 0, 3])  # an IPv4 total length shorter than the frame: the payload ends there
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) - cut, 1, 0, 64, proto, 0, rng.randbytes(4),
                         rng.randbytes(4)) + l4
        etype = 0x0800
    else:
        ip = struct.pack(">IHBB", 6 << 28, len(l4), proto, 64) + rng.randbytes(32) + l4
        etype = 0x86DD
    return rng.randbytes(12) + struct.pack(">H", etype) + ip


def _walks(frames: list[bytes], tail: bytes) -> tuple[fastwalk.Walk, fastwalk.Walk]:
    buf = b"".join(frames) + tail
    starts = np.cumsum([0] + [len(f) for f in frames[:-1]]).astype(np.int64)
    ends = starts + np.array([len(f) for f in frames], dtype=np.int64)
    links = np.ones(len(frames), dtype=np.int64)
    v = fastwalk.View(buf)
    got = fastwalk.walk(v, starts, ends, links, tunnels=True)
    fastwalk.NATIVE_APPS = False
    try:
        want = fastwalk.walk(v, starts, ends, links, tunnels=True)
    finally:
        fastwalk.NATIVE_APPS = True
    return got, want


def _same(got: fastwalk.Walk, want: fastwalk.Walk) -> None:
    for name in fastwalk.Walk.__slots__:  # type: ignore[attr-defined]
        a, b = getattr(got, name), getattr(want, name)
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        assert a.dtype == b.dtype, name
        assert a.tolist() == b.tolist(), name


@settings(max_examples=120, deadline=None)
@given(rng=st.randoms(use_true_random=False), n=st.integers(1, 60), tail=st.sampled_from([b"", bytes(3), bytes(64)]))
def test_the_c_rules_are_the_numpy_rules(rng: random.Random, n: int, tail: bytes) -> None:
    """Frames end at the end of the buffer too (``tail`` empty): a field read past the payload is
    read where ``Gather.read`` moves it, in both."""
    got, want = _walks([_frame(rng) for _ in range(n)], tail)
    _same(got, want)


def _corpus(seed: int, n: int = 400) -> list[bytes]:
    rng = random.Random(seed)
    return [_frame(rng) for _ in range(n)]


def test_the_corpus_reaches_every_rule() -> None:
    """The frames above reach what they are made for: each outcome the rules have (else the
    comparisons prove little)."""
    got, _ = _walks(_corpus(1, 2000), b"")
    from tracemon.traces.protocols import CODE

    tops = set(got.top[got.ok & ~got.fallback].tolist())
    for name in ("NbtSS", "SMB", "SMB2", "MSRPC", "HTTP", "TLS", "RDP" if "RDP" in CODE else "TLS", "DNS", "IKE", "ESP",
                 "TCP", "UDP"):
        assert CODE[name] in tops, name
    assert got.fallback.sum() > 50  # rows the scalar path decides: auth headers, SMB2 setup and pipes, RPC auth


@pytest.mark.parametrize("change", ["heuristic", "session", "port", "no_heuristics", "no_rpc_test"])
def test_the_c_rules_follow_the_dispatch_tables(change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dissector registered or taken away changes the C rules as it changes the NumPy ones: a
    payload test of another kind (every unclaimed payload goes to the dissectors), a session
    payload that is not SMB's, a port whose dissector has no rule, no payload tests, no RPC test."""
    if change == "heuristic":
        monkeypatch.setattr(_core, "TCP_HEURISTICS", [*_core.TCP_HEURISTICS, (lambda d, o, e: False, None)])
    elif change == "session":
        monkeypatch.setattr(_nbns, "SESSION_PAYLOADS", {**_nbns.SESSION_PAYLOADS, b"\xfeSMB": lambda *a: None})
    elif change == "port":
        monkeypatch.setattr(_core, "TCP_PORTS", {**_core.TCP_PORTS, 1234: lambda *a: None})
        monkeypatch.setattr(_core, "UDP_PORTS", {**_core.UDP_PORTS, 50000: lambda *a: None})
    elif change == "no_heuristics":
        monkeypatch.setattr(_core, "TCP_HEURISTICS", [])
    else:
        monkeypatch.setattr(_core, "TCP_HEURISTICS", [h for h in _core.TCP_HEURISTICS if h[0] is not _dcerpc.starts_pdu])
    got, want = _walks(_corpus(2), b"")
    _same(got, want)


def test_walk_apps_refuses_tables_of_the_wrong_size() -> None:
    frames = _corpus(3, 4)
    buf = np.frombuffer(b"".join(frames), dtype=np.uint8)
    n = len(frames)
    cols = tuple(np.zeros(n, dtype=np.int64) for _ in fastwalk.WALK_COLUMNS)
    outs = (np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
    plan = fastapps.native_plan(fastwalk._LAYER_BITS)
    assert plan is not None
    tables, heur, prefixes, words = plan
    fastapps._native_apps(buf, cols, outs, tables, heur, prefixes, words)  # (rows of state 0: left alone)
    assert not outs[2].any()
    with pytest.raises(ValueError, match="wrong size"):
        fastapps._native_apps(buf, cols, outs, (tables[0][:100], *tables[1:]), heur, prefixes, words)
    with pytest.raises(ValueError, match="different sizes"):
        fastapps._native_apps(buf, cols, (outs[0][:2], *outs[1:]), tables, heur, prefixes, words)
    with pytest.raises(ValueError, match="lower-case"):
        fastapps._native_apps(buf, cols, outs, tables, heur, prefixes, (b"NTLM",))
    with pytest.raises(ValueError, match="wrong number"):
        fastapps._native_apps(buf, cols[:3], outs, tables, heur, prefixes, words)
