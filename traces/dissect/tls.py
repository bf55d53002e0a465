"""TLS (and SSL 3.0) records on the TLS ports, named as Netmon's TLS parser names them:
``TLS.TlsRecLayer.TlsRecordLayer.SSLHandshake.HandShake.ClientHello`` (attested in published
filters), with short aliases (``TLS.Record``, ``TLS.Handshake``, ``TLS.ClientHello``,
``TLS.ServerHello``, ``TLS.Alert``) and ``SSL`` for ``TLS``.

Every record that starts in the segment is decoded, the last up to the segment's end
(``[truncated]``); a segment that does not start with a record header continues one
(``TLS: Continued Data``).  A handshake record whose messages do not exactly fill it is
encrypted (a Finished after ChangeCipherSpec, or TLS 1.3) and is shown as such.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Field
from .core import TCP_PORTS, Ctx, payload
from .text import new

R = REGISTRY
CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData", 24: "Heartbeat"}
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
HANDSHAKE_TYPES = {0: "Hello Request", 1: "Client Hello", 2: "Server Hello", 4: "New Session Ticket",
                   5: "End Of Early Data", 8: "Encrypted Extensions", 11: "Certificate", 12: "Server Key Exchange",
                   13: "Certificate Request", 14: "Server Hello Done", 15: "Certificate Verify",
                   16: "Client Key Exchange", 20: "Finished", 24: "Key Update"}
ALERT_LEVELS = {1: "Warning", 2: "Fatal"}
ALERTS = {0: "Close Notify", 10: "Unexpected Message", 20: "Bad Record MAC", 21: "Decryption Failed",
          22: "Record Overflow", 30: "Decompression Failure", 40: "Handshake Failure", 41: "No Certificate",
          42: "Bad Certificate", 43: "Unsupported Certificate", 44: "Certificate Revoked", 45: "Certificate Expired",
          46: "Certificate Unknown", 47: "Illegal Parameter", 48: "Unknown CA", 49: "Access Denied",
          50: "Decode Error", 51: "Decrypt Error", 60: "Export Restriction", 70: "Protocol Version",
          71: "Insufficient Security", 80: "Internal Error", 86: "Inappropriate Fallback", 90: "User Canceled",
          100: "No Renegotiation", 109: "Missing Extension", 110: "Unsupported Extension",
          112: "Unrecognized Name", 113: "Bad Certificate Status Response", 115: "Unknown PSK Identity",
          116: "Certificate Required", 120: "No Application Protocol"}
CIPHER_SUITES = {
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
}
EXTENSIONS = {0: "server_name", 5: "status_request", 10: "supported_groups", 11: "ec_point_formats",
              13: "signature_algorithms", 16: "application_layer_protocol_negotiation", 23: "extended_master_secret",
              35: "session_ticket", 43: "supported_versions", 45: "psk_key_exchange_modes", 51: "key_share",
              65281: "renegotiation_info"}

TLS = R.protocol("TLS", "Transport Layer Security (and SSL 3.0) records")
CONTINUED = R.define("TLS.ContinuedData", FieldType.BYTES, "Bytes continuing a record begun in an earlier segment")
REC_LAYER = R.define("TLS.TlsRecLayer", FieldType.PROTOCOL, "The records of the segment")
_REC = "TLS.TlsRecLayer.TlsRecordLayer"
RECORD = R.define(_REC, FieldType.PROTOCOL, "One record")
CONTENT_TYPE = R.define(f"{_REC}.ContentType", FieldType.UINT, "Record content type", enum=CONTENT_TYPES)
VERSION = R.define(f"{_REC}.Version", FieldType.UINT, "Record protocol version", enum=VERSIONS)
LENGTH = R.define(f"{_REC}.Length", FieldType.UINT, "Record length")
CCS = R.define(f"{_REC}.ChangeCipherSpec", FieldType.PROTOCOL, "Change cipher spec")
APP_DATA = R.define(f"{_REC}.ApplicationData", FieldType.BYTES, "Encrypted application data")
ALERT = R.define(f"{_REC}.Alert", FieldType.PROTOCOL, "An alert (readable before encryption starts)")
ALERT_LEVEL = R.define(f"{_REC}.Alert.Level", FieldType.UINT, "Alert level", enum=ALERT_LEVELS)
ALERT_DESC = R.define(f"{_REC}.Alert.Description", FieldType.UINT, "Alert description", enum=ALERTS)
ENCRYPTED = R.define(f"{_REC}.EncryptedData", FieldType.BYTES, "An encrypted alert or handshake message")
_HS = f"{_REC}.SSLHandshake.HandShake"
SSL_HANDSHAKE = R.define(f"{_REC}.SSLHandshake", FieldType.PROTOCOL, "The handshake messages of a record")
HANDSHAKE = R.define(_HS, FieldType.PROTOCOL, "One handshake message")
HS_TYPE = R.define(f"{_HS}.HandShakeType", FieldType.UINT, "Handshake message type", enum=HANDSHAKE_TYPES)
HS_LENGTH = R.define(f"{_HS}.Length", FieldType.UINT, "Handshake message length")


class _Hello:
    """The fields of a ClientHello or ServerHello."""

    def __init__(self, which: str) -> None:
        p = f"{_HS}.{which}"
        self.node = R.define(p, FieldType.PROTOCOL, f"A {which}")
        self.version = R.define(f"{p}.Version", FieldType.UINT, "Legacy protocol version", enum=VERSIONS)
        self.session_id = R.define(f"{p}.SessionID", FieldType.BYTES, "Session id")
        many = which == "ClientHello"
        self.cipher = R.define(f"{p}.CipherSuite", FieldType.UINT,
                               "Offered cipher suite (one per suite)" if many else "Chosen cipher suite",
                               enum=CIPHER_SUITES)
        self.extension = R.define(f"{p}.Extension", FieldType.UINT, "Extension type (one per extension)",
                                  enum=EXTENSIONS)
        self.server_name = R.define(f"{p}.ServerName", FieldType.STRING, "Server name indication (SNI)")
        self.supported_version = R.define(f"{p}.SupportedVersion", FieldType.UINT,
                                          "supported_versions extension (TLS 1.3)", enum=VERSIONS)
        self.alpn = R.define(f"{p}.ALPN", FieldType.STRING, "Application protocol (ALPN), one per name")


CLIENT_HELLO = _Hello("ClientHello")
SERVER_HELLO = _Hello("ServerHello")
R.alias("SSL", "TLS")
R.alias("TLS.Record", _REC)
R.alias("TLS.Handshake", _HS)
R.alias("TLS.ClientHello", f"{_HS}.ClientHello")
R.alias("TLS.ServerHello", f"{_HS}.ServerHello")
R.alias("TLS.Alert", f"{_REC}.Alert")

PORTS = (443, 465, 636, 853, 993, 995, 5061)
MAX_RECORDS = 64
MAX_ITEMS = 512  # cipher suites / extensions read from one hello


def starts_record(d: bytes, off: int, end: int) -> bool:
    return end - off >= 3 and d[off] in CONTENT_TYPES and d[off + 1] == 3 and d[off + 2] <= 4


def _ver(v: int) -> str:
    return VERSIONS.get(v, f"0x{v:04X}")


def dissect_tls(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if not starts_record(d, off, end):
        layer = ctx.layer(TLS, f"Continued Data: {end - off} Bytes", off, end - off)
        layer.add(CONTINUED, d[off:end], off, end - off, display=f"{end - off} bytes")
        return
    layer = ctx.layer(TLS, "", off, end - off)
    recs = layer.add(REC_LAYER, True, off, end - off, display="")
    parts: list[str] = []
    for i in range(1, MAX_RECORDS + 1):
        if not starts_record(d, off, end):
            break
        text, off = _record(d, recs, off, end)
        parts.append(f"TLS Rec Layer-{i} {text}")
        if off >= end:
            break
    summary = "; ".join(parts)
    recs.display = summary
    if off < end:
        layer.length = off - layer.start
        ctx.set_summary(layer, summary)
        payload(ctx, off, end)
    else:
        ctx.set_summary(layer, summary)


def _record(d: bytes, recs: Field, off: int, end: int) -> tuple[str, int]:
    """One record at ``off``: its summary text and where the next one starts."""
    ctype = d[off]
    rec = recs.add(RECORD, True, off, min(end, off + 5) - off)
    rec.add(CONTENT_TYPE, ctype, off, 1, display=f"{CONTENT_TYPES[ctype]} ({ctype})")
    if end - off < 5:
        rec.display = "[truncated]"
        return "[truncated]", end
    version = (d[off + 1] << 8) | d[off + 2]
    length = (d[off + 3] << 8) | d[off + 4]
    rec.add(VERSION, version, off + 1, 2, display=_ver(version))
    rec.add(LENGTH, length, off + 3, 2)
    body, stop = off + 5, min(end, off + 5 + length)
    rec.length = stop - off
    cut = " [truncated]" if off + 5 + length > end else ""
    if ctype == 23:
        rec.add(APP_DATA, d[body:stop], body, stop - body, display=f"{stop - body} bytes")
        text = "SSL Application Data"
    elif ctype == 20:
        rec.add(CCS, True, body, stop - body, display="Change Cipher Spec")
        text = "Cipher Change Spec"
    elif ctype == 21:
        text = _alert(d, rec, body, stop, length)
    elif ctype == 22:
        text = _handshake(d, rec, body, stop, off + 5 + length)
    else:
        rec.add(ENCRYPTED, d[body:stop], body, stop - body, display=f"{stop - body} bytes")
        text = CONTENT_TYPES[ctype]
    rec.display = text + cut
    return text + cut, stop


def _alert(d: bytes, rec: Field, body: int, stop: int, length: int) -> str:
    if length != 2:  # encrypted: only its length is visible
        rec.add(ENCRYPTED, d[body:stop], body, stop - body, display=f"{stop - body} bytes")
        return "Encrypted Alert"
    node = rec.add(ALERT, True, body, stop - body, display="")
    if stop - body < 2:
        return "Alert"
    level, desc = d[body], d[body + 1]
    node.add(ALERT_LEVEL, level, body, 1, display=ALERT_LEVELS.get(level, str(level)))
    node.add(ALERT_DESC, desc, body + 1, 1, display=f"{ALERTS.get(desc, 'Unknown')} ({desc})")
    node.display = f"{ALERT_LEVELS.get(level, level)}: {ALERTS.get(desc, desc)}"
    return f"Alert: {node.display}"


def _plain(d: bytes, body: int, stop: int, rec_end: int) -> bool:
    """Whether the record holds readable handshake messages: known types whose lengths tile the
    record exactly (as far as the segment shows it).  Encrypted ones almost never do."""
    pos, count = body, 0
    while pos < rec_end:
        if pos + 4 > stop:  # the segment ends here: judge by what it showed
            if pos < stop and d[pos] not in HANDSHAKE_TYPES:
                return False
            return count > 0 or pos < stop
        if d[pos] not in HANDSHAKE_TYPES or count >= MAX_RECORDS:
            return False
        pos += 4 + int.from_bytes(d[pos + 1 : pos + 4], "big")
        count += 1
    return pos == rec_end


def _handshake(d: bytes, rec: Field, body: int, stop: int, rec_end: int) -> str:
    if not _plain(d, body, stop, rec_end):
        rec.add(ENCRYPTED, d[body:stop], body, stop - body, display=f"{stop - body} bytes")
        return "HandShake: Encrypted Handshake Message."
    ssl = rec.add(SSL_HANDSHAKE, True, body, stop - body, display="")
    names = []
    pos = body
    while pos < stop and len(names) < MAX_RECORDS:
        kind = d[pos]
        names.append(HANDSHAKE_TYPES[kind] + ".")
        if pos + 4 > stop:
            ssl.add(HANDSHAKE, True, pos, stop - pos, display=f"{HANDSHAKE_TYPES[kind]} [truncated]")
            break
        n = int.from_bytes(d[pos + 1 : pos + 4], "big")
        mend = min(stop, pos + 4 + n)
        hs = ssl.add(HANDSHAKE, True, pos, mend - pos, display=HANDSHAKE_TYPES[kind])
        hs.add(HS_TYPE, kind, pos, 1, display=f"{HANDSHAKE_TYPES[kind]} ({kind})")
        hs.add(HS_LENGTH, n, pos + 1, 3)
        if kind in (1, 2):
            _hello(d, hs, CLIENT_HELLO if kind == 1 else SERVER_HELLO, pos + 4, mend)
        pos += 4 + n
    ssl.display = " ".join(names)
    return "HandShake: " + " ".join(names)


def _hello(d: bytes, hs: Field, f: _Hello, pos: int, end: int) -> None:
    """A ClientHello or ServerHello, field by field until the bytes run out."""
    node = hs.add(f.node, True, pos, end - pos, display="")
    client = f is CLIENT_HELLO
    if pos + 35 > end:
        return
    version = (d[pos] << 8) | d[pos + 1]
    node.add(f.version, version, pos, 2, display=_ver(version))
    pos += 34
    sid = d[pos]
    if pos + 1 + sid > end:
        return
    node.add(f.session_id, d[pos + 1 : pos + 1 + sid], pos + 1, sid, display=d[pos + 1 : pos + 1 + sid].hex())
    pos += 1 + sid
    if client:
        if pos + 2 > end:
            return
        n = (d[pos] << 8) | d[pos + 1]
        for at in range(pos + 2, min(end - 1, pos + 2 + n, pos + 2 + 2 * MAX_ITEMS), 2):
            _suite(node, f.cipher, (d[at] << 8) | d[at + 1], at)
        pos += 2 + n
        if pos + 1 > end:
            return
        pos += 1 + d[pos]  # compression methods
    else:
        if pos + 3 > end:
            return
        _suite(node, f.cipher, (d[pos] << 8) | d[pos + 1], pos)
        pos += 3
    if pos + 2 > end:
        return
    ext_end = min(end, pos + 2 + ((d[pos] << 8) | d[pos + 1]))
    pos += 2
    sni = ""
    for _ in range(MAX_ITEMS):
        if pos + 4 > ext_end:
            break
        etype, n = (d[pos] << 8) | d[pos + 1], (d[pos + 2] << 8) | d[pos + 3]
        node.add(f.extension, etype, pos, 2, display=f"{EXTENSIONS.get(etype, 'unknown')} ({etype})")
        data, data_end = pos + 4, min(ext_end, pos + 4 + n)
        if etype == 0 and client:
            sni = _server_name(d, node, f.server_name, data, data_end) or sni
        elif etype == 43:
            if client and data < data_end:
                for at in range(data + 1, min(data_end - 1, data + 1 + d[data]), 2):
                    v = (d[at] << 8) | d[at + 1]
                    node.add(f.supported_version, v, at, 2, display=_ver(v))
            elif not client and data + 2 <= data_end:
                v = (d[data] << 8) | d[data + 1]
                node.add(f.supported_version, v, data, 2, display=_ver(v))
        elif etype == 16:
            _alpn(d, node, f.alpn, data, data_end)
        pos += 4 + n
    node.display = f"SNI {sni}" if sni else ""


def _suite(node: Field, fdef: FieldDef, value: int, at: int) -> None:
    node.children.append(new(fdef, value, f"{CIPHER_SUITES.get(value, 'Unknown')} (0x{value:04X})", at, 2))


def _server_name(d: bytes, node: Field, fdef: FieldDef, pos: int, end: int) -> str:
    pos += 2  # list length
    first = ""
    while pos + 3 <= end:
        n = (d[pos + 1] << 8) | d[pos + 2]
        if pos + 3 + n > end:
            break
        if d[pos] == 0:
            name = d[pos + 3 : pos + 3 + n].decode("latin-1")
            node.add(fdef, name, pos + 3, n)
            first = first or name
        pos += 3 + n
    return first


def _alpn(d: bytes, node: Field, fdef: FieldDef, pos: int, end: int) -> None:
    pos += 2
    while pos < end:
        n = d[pos]
        if pos + 1 + n > end:
            break
        node.add(fdef, d[pos + 1 : pos + 1 + n].decode("latin-1"), pos + 1, n)
        pos += 1 + n


for _port in PORTS:
    TCP_PORTS[_port] = dissect_tls
