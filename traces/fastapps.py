"""Vectorised classification of what TCP and UDP carry, for the index (see fastclassify.py).

The dissectors decide the application protocol by port (the lower well-known port first, as
``udp.by_port`` does) and, for TCP payload no port claims, by a payload-prefix test (HTTP).  The
index needs only the presence bits and the Protocol Name, and for the protocols here those
follow from the port and the first bytes of the payload, so a batch is classified with array
operations instead of dissecting each frame in Python.  Each rule mirrors its dissector:

* an HTTP, TLS, Kerberos or LDAP port: any payload is that protocol (a message, the data of one,
  or for LDAP a SASL-sealed buffer);
* NetBIOS session service (139, 445): an NbtSS header, then SMB2 or SMB by the magic after it;
  a segment that holds a second message goes to the scalar path;
* no port: HTTP when the payload starts with one of ``http.PREFIXES``, MSRPC when it starts a
  DCE/RPC PDU (``dcerpc.starts_pdu``);
* MSRPC (135, or by the payload test): a PDU with an auth verifier (which may carry NTLMSSP) or a
  segment holding more than one PDU goes to the scalar path; SMB2 named-pipe data that starts
  like a PDU (WRITE, READ, FSCTL_PIPE_TRANSCEIVE) too;
* UDP DNS-format protocols (DNS, mDNS, LLMNR, NBTNS): the 12-byte header must be there;
* IKE on UDP 500: any payload; UDP 4500 (NAT-T): IKE after a non-ESP marker (four zero bytes), no
  layer for a NAT keepalive (one 0xFF byte), else ESP;
* NTP, DHCPv6, SSDP: any UDP payload on their ports is that protocol;
* RDP (3389): a segment that starts a TPKT header goes to the scalar path (X.224 and the RDP
  negotiation), any other is TLS (after negotiation the connection is TLS throughout);
* HTTP messages whose headers may carry NTLMSSP or a GSS-API token go to the scalar path.

A port whose dissector has no rule here (someone registered another one) sends its rows to
the scalar path, which defines the result; ``tests/test_classify.py`` checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dissect import core as _core
from .dissect import dcerpc as _dcerpc
from .dissect import dhcpv6 as _dhcpv6
from .dissect import dns as _dns
from .dissect import http as _http
from .dissect import ipsec as _ipsec
from .dissect import kerberos as _kerberos
from .dissect import ldap as _ldap
from .dissect import nbns as _nbns
from .dissect import ntp as _ntp
from .dissect import rdp as _rdp
from .dissect import smb as _smb
from .dissect import ssdp as _ssdp
from .dissect import tls as _tls
from .gather import Gather
from .protocols import CODE, MASK

try:  # the word search in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import find_words as _native_find_words
except ImportError:  # pragma: no cover - the Python loop in ``_http_auth`` does the same
    _native_find_words = None
try:  # these rules in C, for the rows the C layer walk read (``_walk.c``)
    from ._walk import walk_apps as _native_apps
except ImportError:  # pragma: no cover - fastwalk.walk runs ``tcp`` and ``udp`` instead
    _native_apps = None

#: TCP dissector → the protocol any non-empty payload on its port is
_TCP_WHOLE: dict[Callable[..., None], str] = {_http.dissect_http: "HTTP", _tls.dissect_tls: "TLS",
                                              _kerberos.dissect_kerberos_tcp: "KerberosV5",
                                              _ldap.dissect_ldap: "LDAP", _dcerpc.dissect_msrpc: "MSRPC",
                                              _rdp.dissect_rdp_port: "RDP"}
#: UDP dissector → its protocol (the DNS-format ones need their 12-byte header, see ``udp``)
_UDP_WHOLE: dict[Callable[..., None], str] = {_dns.dissect_dns: "DNS", _dns.dissect_llmnr: "LLMNR",
                                              _nbns.dissect_nbtns: "NBTNS", _kerberos.dissect_kerberos_udp: "KerberosV5",
                                              _ldap.dissect_ldap: "LDAP", _ipsec.dissect_ike: "IKE",
                                              _ntp.dissect_ntp: "NTP", _dhcpv6.dissect_dhcpv6: "DHCPv6",
                                              _ssdp.dissect_ssdp: "SSDP"}
_DNS_FORMAT = ("DNS", "LLMNR", "NBTNS")
_NBSS_TYPES = np.array(sorted(_nbns.SS_TYPE.enum or {}), dtype=np.int64)
_SESSION_DISSECTORS = {"SMB": _smb.dissect_smb, "SMB2": _smb.smb2.dissect_smb2}


# rule of a port, per protocol table: what ``tcp``/``udp`` do with the rows that port claims
_NONE, _FALLBACK, _NBTSS = 0, 1, 2  # then 3 + i: the i-th name of _RULE_NAMES (the whole payload is it)
_RULE_NAMES = ("DNS", "LLMNR", "NBTNS", "HTTP", "TLS", "KerberosV5", "LDAP", "MSRPC",  # the DNS-format ones first
               "IKE", "ESP", "NTP", "DHCPv6", "SSDP", "RDP")
#: a rule whose rows are another protocol than its name: RDP's port is TLS but for TPKT (see ``tcp``)
_RULE_PROTOCOL = {"RDP": "TLS"}
#: UDP 4500 (``ipsec.dissect_nat_t``): IKE after a non-ESP marker, a NAT keepalive, else ESP; never a
#: whole-payload rule, so a code past the rules' tables (``udp`` replaces it before they are read)
_NATT = 3 + len(_RULE_NAMES)
_tables: dict[tuple[str, tuple[tuple[int, int], ...]], np.ndarray] = {}


def _rules(kind: str, table: dict[int, Callable[..., None]]) -> np.ndarray:
    """Port → rule (u8, 65536 entries), rebuilt only when the dispatch table changes."""
    key = (kind, tuple(sorted((p, id(fn)) for p, fn in table.items())))
    rules = _tables.get(key)
    if rules is None:
        whole = _TCP_WHOLE if kind == "tcp" else _UDP_WHOLE
        rules = np.zeros(65536, dtype=np.uint8)
        for port, fn in table.items():
            name = whole.get(fn)
            if name is not None:
                rules[port] = 3 + _RULE_NAMES.index(name)
            elif fn is _nbns.dissect_nbtss and kind == "tcp":
                rules[port] = _NBTSS
            elif fn is _ipsec.dissect_nat_t and kind == "udp":
                rules[port] = _NATT
            else:
                rules[port] = _FALLBACK
        for old in [k for k in _tables if k[0] == kind]:  # (one table per kind: a test may swap dissectors)
            del _tables[old]
        _tables[key] = rules
    return rules


def _app_rule(sport: np.ndarray, dport: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """The rule of the port whose dissector ``by_port`` runs (the lower port first)."""
    lo, hi = np.minimum(sport, dport), np.maximum(sport, dport)
    r = rules[lo]
    return np.where(r != _NONE, r, rules[hi])


def tcp(v: Gather, sport: np.ndarray, dport: np.ndarray, pl: np.ndarray,
        plen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presence bits, Protocol Name code or -1 for plain TCP, rows for the scalar path) of TCP rows
    whose payload is ``plen`` bytes at ``pl``."""
    rule = _app_rule(sport, dport, _rules("tcp", _core.TCP_PORTS))
    rule[plen <= 0] = _NONE  # no payload: nothing for a dissector (``by_port`` returns)
    fallback = rule == _FALLBACK
    bits, top = _whole(rule)
    nb = np.flatnonzero(rule == _NBTSS)
    if len(nb):
        _nbtss(v, nb, pl, plen, bits, top, fallback)
    rest = np.flatnonzero(rule == _NONE)
    rest = rest[plen[rest] > 0]
    if len(rest):
        _heuristics(v, rest, pl, plen, bits, top, fallback)
    _tpkt(v, np.flatnonzero(rule == _RDP), pl, plen, fallback)
    rpc = np.flatnonzero(top == CODE["MSRPC"])
    if len(rpc):
        _msrpc_fallback(v, rpc, pl, plen, fallback)
    _http_auth(v, np.flatnonzero((top == CODE["HTTP"]) & (plen >= _AUTH_MIN)), pl, plen, fallback)
    return bits, top, fallback


#: what makes the dissectors look for NTLMSSP or a GSS-API token in an HTTP message (lower case; any
#: case matches), in a payload of at least ``_AUTH_MIN`` bytes
_AUTH_WORDS = (b"ntlm", b"negotiate", b"kerberos")
_AUTH_MIN = 16
_SMB2_MAGIC = 0xFE534D42


def _tpkt(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, fallback: np.ndarray) -> None:
    """RDP's port (``rdp.dissect_rdp_port``): a segment starting a TPKT header (connection setup, or
    RDP without TLS: X.224 and the negotiation) goes to the dissectors; any other is TLS."""
    if not len(rows):
        return
    p = pl[rows]
    tpkt = (plen[rows] >= 4) & (v.read(p, "u1") == 3) & (v.read(p + 1, "u1") == 0)
    fallback[rows[tpkt]] = True


def _http_auth(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, fallback: np.ndarray) -> None:
    """HTTP messages whose headers may carry NTLMSSP or a GSS-API token (``ntlm``/``negotiate``/
    ``kerberos`` in its header block, any case) go to the dissectors, which decide what layers are
    there.  Only the headers of a segment starting a message are searched: the dissectors read
    the authentication schemes from header values, never from a body or a continuation segment."""
    if not len(rows):
        return
    first = v.read(pl[rows], "u1")
    starts = rows[np.isin(first, _FIRST_BYTES)]
    if not len(starts):
        return
    fallback[starts[_has_words(v.u8, pl[starts], plen[starts], _AUTH_WORDS, headers=True)]] = True


def _has_words(u8: np.ndarray, at: np.ndarray, n: np.ndarray, words: tuple[bytes, ...], *, headers: bool = False,
               native: object = True) -> np.ndarray:
    """Per row: whether ``u8[at : at + n]`` holds any of ``words`` (lower-case letters) in any case;
    with ``headers``, before the row's first blank line (``\\n\\n`` or ``\\n\\r\\n``: a header
    block ends there; a line of several ``\\r`` also ends one for the dissectors, and reading on
    past it only sends more frames to them).  ``native=None`` runs the Python loop (the C one's
    reference)."""
    fn = _native_find_words if native is True else native
    if fn is not None:
        found = fn(u8, np.ascontiguousarray(at, dtype=np.int64), np.ascontiguousarray(n, dtype=np.int64), words,  # type: ignore[operator]
                   headers)
        return np.frombuffer(found, dtype=np.uint8).astype(bool)
    out = np.zeros(len(at), dtype=bool)
    for i, (a, k) in enumerate(zip(at.tolist(), n.tolist(), strict=True)):
        seg = u8[max(a, 0) : a + k].tobytes()
        if headers:
            ends = [e for e in (seg.find(b"\n\n"), seg.find(b"\n\r\n")) if e >= 0]
            seg = seg[: min(ends)] if ends else seg
        out[i] = any(w in seg.lower() for w in words)
    return out


def _whole(rule: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(presence bits, Protocol Name code or -1) of rows whose port says what the payload is: one
    gather each from per-rule tables."""
    return _RULE_BITS[rule], _RULE_TOP[rule]


def _heuristics(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, bits: np.ndarray,
                top: np.ndarray, fallback: np.ndarray) -> None:
    tests = [test for test, _ in _core.TCP_HEURISTICS]
    if any(t not in (_http.starts_message, _dcerpc.starts_pdu) for t in tests):
        fallback[rows] = True  # a test we cannot make here: let the dissectors decide
        return
    if _dcerpc.starts_pdu in tests:
        m = rows[_starts_pdu(v, pl[rows], plen[rows])]
        bits[m] |= np.uint64(MASK["MSRPC"])
        top[m] = CODE["MSRPC"]
        rows = np.setdiff1d(rows, m, assume_unique=True)  # the prefixes never meet: order is moot
    if _http.starts_message not in tests:
        return
    width = max(len(p) for p in _http.PREFIXES)
    cand = rows[plen[rows] >= min(len(p) for p in _http.PREFIXES)]
    if len(cand):  # one gather rules out nearly every row: the first letter of a prefix
        cand = cand[np.isin(v.read(pl[cand], "u1"), _FIRST_BYTES)]
    if not len(cand):
        return
    head = np.stack([v.read(pl[cand] + k, "u1") for k in range(width)], axis=1)
    avail = plen[cand]
    hit = np.zeros(len(cand), dtype=bool)
    for p in _http.PREFIXES:
        want = np.frombuffer(p, dtype=np.uint8).astype(np.int64)
        hit |= (avail >= len(p)) & np.all(head[:, : len(p)] == want, axis=1)
    h = cand[hit]
    bits[h] |= np.uint64(MASK["HTTP"])
    top[h] = CODE["HTTP"]


def _starts_pdu(v: Gather, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``dcerpc.starts_pdu`` on the payloads at ``p`` (``n`` bytes each), vectorised."""
    ok = (n >= _dcerpc.HEADER) & (v.read(p, "u1") == 5)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return ok
    q = p[idx]
    little = (v.read(q + 4, "u1") & 0x10) != 0
    frag = np.where(little, v.read(q + 8, "<u2"), v.read(q + 8, ">u2"))
    auth = np.where(little, v.read(q + 10, "<u2"), v.read(q + 10, ">u2"))
    good = ((v.read(q + 1, "u1") <= 1) & np.isin(v.read(q + 2, "u1"), _CO_PTYPES)
            & ((v.read(q + 4, "u1") & 0xEE) == 0) & (v.read(q + 5, "u1") <= 3)
            & (v.read(q + 6, "u1") == 0) & (v.read(q + 7, "u1") == 0)
            & (frag >= _dcerpc.HEADER + np.where(auth > 0, auth + 8, 0)))
    ok[idx] = good
    return ok


def _msrpc_fallback(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, fallback: np.ndarray) -> None:
    """MSRPC rows the dissectors must see: a PDU with an auth verifier (NTLMSSP may be there) or
    more than one PDU in the segment (a later one may have one)."""
    p, n = pl[rows], plen[rows]
    pdu = _starts_pdu(v, p, n)
    little = (v.read(p + 4, "u1") & 0x10) != 0
    frag = np.where(little, v.read(p + 8, "<u2"), v.read(p + 8, ">u2"))
    auth = np.where(little, v.read(p + 10, "<u2"), v.read(p + 10, ">u2"))
    fallback[rows[pdu & ((auth > 0) | (frag < n))]] = True


def _nbtss(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, bits: np.ndarray, top: np.ndarray,
           fallback: np.ndarray) -> None:
    """``nbns.dissect_nbtss``: a valid header or a continuation; what the first message carries."""
    bits[rows] |= np.uint64(MASK["NbtSS"])
    top[rows] = CODE["NbtSS"]
    p, n = pl[rows], plen[rows]
    kind, flags = v.read(p, "u1"), v.read(p + 1, "u1")
    valid = (n >= 4) & np.isin(kind, _NBSS_TYPES) & ((flags & 0xFE) == 0)
    length = ((flags & 1) << 16) | v.be16(p + 2)
    # a second message in the segment: the scalar path reads the chain
    fallback[rows[valid & (length > 0) & (4 + length < n)]] = True
    body = np.minimum(length, n - 4)
    carried = valid & (kind == 0) & (body >= 4)
    magic = v.be32(p + 4)
    # a SESSION SETUP (SMB2 command 1) may carry NTLMSSP or Kerberos layers: the scalar path decides
    setup = carried & (magic == _SMB2_MAGIC) & (body >= 16) & (v.read(p + 16, "<u2") == 1)
    fallback[rows[setup]] = True
    smb2 = carried & (magic == _SMB2_MAGIC) & (body >= 64)
    _smb2_pipes(v, rows[smb2], p[smb2], fallback)
    for key, fn in _nbns.SESSION_PAYLOADS.items():
        m = rows[carried & (magic == int.from_bytes(key, "big"))]
        name = _smb.SESSION_PROTOCOLS.get(key)
        if name is None or _SESSION_DISSECTORS.get(name) is not fn:  # not ours: the dissectors decide
            fallback[m] = True
            continue
        bits[m] |= np.uint64(MASK[name])
        top[m] = CODE[name]


def _smb2_pipes(v: Gather, rows: np.ndarray, p: np.ndarray, fallback: np.ndarray) -> None:
    """SMB2 messages (NbtSS header at ``p``) whose pipe data may be an RPC PDU go to the dissectors:
    a WRITE request or READ response whose data starts with version 5, any FSCTL_PIPE_TRANSCEIVE, and
    compounded messages (only the first is looked at here)."""
    if not len(rows):
        return
    h, b = p + 4, p + 4 + 64
    cmd, response = v.read(h + 12, "<u2"), (v.read(h + 16, "u1") & 1) == 1
    write = (cmd == 9) & ~response
    read = (cmd == 8) & response
    at = h + np.where(write, v.read(b + 2, "<u2"), v.read(b + 2, "u1"))
    rpc_like = (write | read) & (v.read(at, "u1") == 5) & (v.read(at + 1, "u1") <= 1)
    pipe = (cmd == 11) & (v.read(b + 4, "<u4") == _smb.smb2.FSCTL_PIPE_TRANSCEIVE)
    compound = v.read(h + 20, "<u4") != 0  # a later message may be pipe data: the dissectors read the chain
    fallback[rows[rpc_like | pipe | compound]] = True


def udp(v: Gather, sport: np.ndarray, dport: np.ndarray, plen: np.ndarray,
        pl: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As ``tcp`` for UDP rows (payload at ``pl``): the DNS-format protocols need their 12-byte header
    in full (or the dissector decides what a stub is)."""
    rule = _app_rule(sport, dport, _rules("udp", _core.UDP_PORTS))
    rule[plen <= 0] = _NONE
    natt = np.flatnonzero(rule == _NATT)
    if len(natt):
        if pl is None:
            rule[natt] = _FALLBACK
        else:
            p, n = pl[natt], plen[natt]
            keepalive = (n == 1) & (v.read(p, "u1") == 0xFF)
            marker = (n >= 4) & (v.read(p, ">u4") == 0)
            rule[natt] = np.where(keepalive, _NONE, 3 + np.where(marker, _RULE_NAMES.index("IKE"),
                                                                   _RULE_NAMES.index("ESP")))
    dns_format = (rule >= 3) & (rule < 3 + len(_DNS_FORMAT))
    fallback = (rule == _FALLBACK) | (dns_format & (plen < _DNS_HEADER))
    rule[fallback] = _NONE
    bits, top = _whole(rule)
    return bits, top, fallback


_DNS_HEADER = 12
#: rule → presence bits / Protocol Name code (-1: none) of a row it decides by port alone
_RULE_BITS = np.array([0, 0, 0, *(MASK[_RULE_PROTOCOL.get(n, n)] for n in _RULE_NAMES)], dtype=np.uint64)
_RULE_TOP = np.array([-1, -1, -1, *(CODE[_RULE_PROTOCOL.get(n, n)] for n in _RULE_NAMES)], dtype=np.int64)
_RDP = 3 + _RULE_NAMES.index("RDP")
_CO_PTYPES = np.array(sorted(_dcerpc.CO_PTYPES), dtype=np.int64)
_FIRST_BYTES = np.array(sorted({p[0] for p in _http.PREFIXES}), dtype=np.int64)


# -- the same rules in C (``_walk.walk_apps``) ------------------------------------------------------

#: ``_walk.walk_apps``' constants, in the order of its enum: rule numbers, then the presence bits and
#: Protocol Names its rows can get (``fastwalk`` fills the layer ones), then fixed values of the rules
NATIVE_CONSTANTS = ("rule FALLBACK", "rule NBTSS", "rule NATT", "rule RDP", "rule IKE", "rule ESP", "rule DNS end",
                    *(f"bit {n}" for n in ("ETH", "VLAN", "SLL", "IPV4", "IPV6", "ARP", "ICMP", "ICMPV6", "TCP", "UDP",
                                           "NbtSS", "MSRPC", "HTTP")),
                    *(f"code {n}" for n in ("IPv4", "IPv6", "ARP", "ICMP", "ICMPv6", "TCP", "UDP", "NbtSS", "MSRPC",
                                            "HTTP")),
                    "SMB2 magic", "FSCTL_PIPE_TRANSCEIVE", "DCE/RPC header", "DNS header", "HTTP auth minimum")
_HEUR_PDU, _HEUR_HTTP, _HEUR_OTHER = 1, 2, 4
_SET_NBSS_TYPE, _SET_CO_PTYPE, _SET_HTTP_FIRST = 1, 2, 4


def native_plan(layer_bits: dict[str, int]) -> tuple | None:
    """The arguments of ``_walk.walk_apps`` after its rows and outputs, for the dispatch tables as
    they are now (``tcp`` and ``udp`` read them the same way); None without the C pass.
    ``layer_bits``: the presence bits of ETH, VLAN, SLL, IPV4, IPV6, ARP, ICMP, ICMPV6, TCP and UDP."""
    if _native_apps is None:
        return None
    tests = [test for test, _ in _core.TCP_HEURISTICS]
    heur = ((_HEUR_OTHER if any(t not in (_http.starts_message, _dcerpc.starts_pdu) for t in tests) else 0)
            | (_HEUR_PDU if _dcerpc.starts_pdu in tests else 0) | (_HEUR_HTTP if _http.starts_message in tests else 0))
    sessions = []
    for key, fn in _nbns.SESSION_PAYLOADS.items():
        name = _smb.SESSION_PROTOCOLS.get(key)
        ours = name is not None and _SESSION_DISSECTORS.get(name) is fn
        sessions.append((int.from_bytes(key, "big"), MASK[name] if ours else 0,  # type: ignore[index]
                         CODE[name] if ours else (1 << 64) - 1))  # type: ignore[index]
    bits = {**layer_bits, "NbtSS": MASK["NbtSS"], "MSRPC": MASK["MSRPC"], "HTTP": MASK["HTTP"]}
    consts = [1, 2, _NATT, _RDP, 3 + _RULE_NAMES.index("IKE"), 3 + _RULE_NAMES.index("ESP"), 3 + len(_DNS_FORMAT),
              *(bits[n] for n in ("ETH", "VLAN", "SLL", "IPV4", "IPV6", "ARP", "ICMP", "ICMPV6", "TCP", "UDP", "NbtSS",
                                  "MSRPC", "HTTP")),
              *(CODE[n] for n in ("IPv4", "IPv6", "ARP", "ICMP", "ICMPv6", "TCP", "UDP", "NbtSS", "MSRPC", "HTTP")),
              _SMB2_MAGIC, _smb.smb2.FSCTL_PIPE_TRANSCEIVE, _dcerpc.HEADER, _DNS_HEADER, _AUTH_MIN]
    assert len(consts) == len(NATIVE_CONSTANTS)
    tables = (_rules("tcp", _core.TCP_PORTS), _rules("udp", _core.UDP_PORTS), _RULE_BITS, _RULE_TOP,
              np.array(consts, dtype=np.uint64), _BYTE_SETS,
              np.array(sessions, dtype=np.uint64).reshape(-1))
    return tables, heur, _http.PREFIXES, _AUTH_WORDS


_BYTE_SETS = np.zeros(256, dtype=np.uint8)
_BYTE_SETS[_NBSS_TYPES[(_NBSS_TYPES >= 0) & (_NBSS_TYPES < 256)]] |= _SET_NBSS_TYPE
_BYTE_SETS[_CO_PTYPES[(_CO_PTYPES >= 0) & (_CO_PTYPES < 256)]] |= _SET_CO_PTYPE
_BYTE_SETS[_FIRST_BYTES] |= _SET_HTTP_FIRST
