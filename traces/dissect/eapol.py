"""IEEE 802.1X: EAPOL (EtherType 0x888E, after Ethernet, VLAN tags and 802.11 LLC/SNAP) and EAP.

EAPOL carries EAP packets (Request/Response/Success/Failure), Start and Logoff, and EAPOL-Key
frames (the 802.11 four-way and group handshakes, or the legacy RC4 descriptor).  EAP methods are
read to the level an authentication problem is diagnosed at: the Identity text, the types a NAK
asks for, the flags and message length of the TLS-based methods (EAP-TLS, PEAP, TTLS, FAST) and
the MS-CHAPv2 op-code.  Nothing above EAP becomes a layer of its own (the TLS records inside
EAP-TLS are fragments of a message that spans frames), so the index classifies every frame here
from the EAPOL type alone (``fastclassify``).
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Layer
from .core import ETHER_TYPES, Ctx
from .text import new

R = REGISTRY
EAPOL_TYPES = {0: "EAP-Packet", 1: "Start", 2: "Logoff", 3: "Key", 4: "Encapsulated-ASF-Alert", 5: "MKA",
               6: "Announcement (Generic)", 7: "Announcement (Specific)", 8: "Announcement-Req"}
KEY_DESCRIPTORS = {1: "RC4", 2: "EAPOL RSN Key", 254: "EAPOL WPA Key"}
EAP_CODES = {1: "Request", 2: "Response", 3: "Success", 4: "Failure", 5: "Initiate", 6: "Finish"}
EAP_TYPES = {1: "Identity", 2: "Notification", 3: "Legacy Nak", 4: "MD5-Challenge", 5: "One-Time Password",
             6: "Generic Token Card", 13: "TLS", 17: "LEAP", 18: "SIM", 21: "TTLS", 23: "AKA", 25: "PEAP",
             26: "MSCHAPv2", 33: "MS-EAP-Extensions", 43: "FAST", 47: "PSK", 49: "IKEv2", 50: "AKA'",
             52: "PWD", 254: "Expanded Type", 255: "Experimental"}
#: the methods whose data is TLS records behind a flags byte (and a length when the L flag is set)
TLS_METHODS = (13, 21, 25, 43)
MSCHAPV2_OPCODES = {1: "Challenge", 2: "Response", 3: "Success", 4: "Failure", 7: "Change-Password"}

EAPOL = R.protocol("EAPOL", "IEEE 802.1X EAP over LAN")
VERSION = R.define("EAPOL.Version", FieldType.UINT, "Protocol version (1 802.1X-2001, 2 -2004, 3 -2010)")
TYPE = R.define("EAPOL.Type", FieldType.UINT, "Packet type (0 EAP-Packet, 1 Start, 2 Logoff, 3 Key …)",
                enum=EAPOL_TYPES)
LENGTH = R.define("EAPOL.Length", FieldType.UINT, "Length of the packet body")
KEY_TYPE = R.define("EAPOL.Key.DescriptorType", FieldType.UINT, "Key descriptor (1 RC4, 2 RSN, 254 WPA)",
                    enum=KEY_DESCRIPTORS)
KEY_INFO = R.define("EAPOL.Key.KeyInformation", FieldType.UINT, "Key information flags (RSN/WPA descriptors)")
KI_VERSION = R.define("EAPOL.Key.KeyInformation.DescriptorVersion", FieldType.UINT,
                      "Key descriptor version (1 HMAC-MD5/RC4, 2 HMAC-SHA1/AES, 3 AES-CMAC)")
KI_PAIRWISE = R.define("EAPOL.Key.KeyInformation.Pairwise", FieldType.BOOL, "Pairwise key (else group key)")
KI_INSTALL = R.define("EAPOL.Key.KeyInformation.Install", FieldType.BOOL, "Install the key")
KI_ACK = R.define("EAPOL.Key.KeyInformation.KeyAck", FieldType.BOOL, "Sent by the authenticator, reply expected")
KI_MIC = R.define("EAPOL.Key.KeyInformation.KeyMIC", FieldType.BOOL, "The frame carries a MIC")
KI_SECURE = R.define("EAPOL.Key.KeyInformation.Secure", FieldType.BOOL, "The keys are installed")
KI_ERROR = R.define("EAPOL.Key.KeyInformation.Error", FieldType.BOOL, "MIC failure report")
KI_REQUEST = R.define("EAPOL.Key.KeyInformation.Request", FieldType.BOOL, "The supplicant asks for a handshake")
KI_ENCRYPTED = R.define("EAPOL.Key.KeyInformation.EncryptedKeyData", FieldType.BOOL, "Key data is encrypted")
KEY_LENGTH = R.define("EAPOL.Key.KeyLength", FieldType.UINT, "Length of the key")
REPLAY = R.define("EAPOL.Key.ReplayCounter", FieldType.UINT, "Replay counter")
NONCE = R.define("EAPOL.Key.Nonce", FieldType.BYTES, "Key nonce (ANonce or SNonce)")
KEY_IV = R.define("EAPOL.Key.IV", FieldType.BYTES, "Key IV")
KEY_RSC = R.define("EAPOL.Key.RSC", FieldType.BYTES, "Receive sequence counter")
KEY_MIC = R.define("EAPOL.Key.MIC", FieldType.BYTES, "Message integrity code")
KEY_DATA_LENGTH = R.define("EAPOL.Key.KeyDataLength", FieldType.UINT, "Length of the key data")
KEY_DATA = R.define("EAPOL.Key.KeyData", FieldType.BYTES, "Key data (RSN IE, encrypted GTK …)")
KEY_INDEX = R.define("EAPOL.Key.KeyIndex", FieldType.UINT, "Key index (RC4 descriptor)")
KEY_SIGNATURE = R.define("EAPOL.Key.KeySignature", FieldType.BYTES, "Key signature (RC4 descriptor)")
MESSAGE = R.define("EAPOL.Key.Message", FieldType.UINT,
                   "Handshake message (1-4 of the four-way handshake, 1-2 of the group key handshake), from the flags")
BODY = R.define("EAPOL.Body", FieldType.BYTES, "Body of another packet type")

EAP = R.protocol("EAP", "Extensible Authentication Protocol")
CODE = R.define("EAP.Code", FieldType.UINT, "1 Request, 2 Response, 3 Success, 4 Failure", enum=EAP_CODES)
IDENTIFIER = R.define("EAP.Identifier", FieldType.UINT, "Matches responses with requests")
EAP_LENGTH = R.define("EAP.Length", FieldType.UINT, "Length of the EAP packet")
EAP_TYPE = R.define("EAP.Type", FieldType.UINT, "Method (1 Identity, 3 NAK, 13 TLS, 25 PEAP, 26 MSCHAPv2 …)",
                    enum=EAP_TYPES)
IDENTITY = R.define("EAP.Identity", FieldType.STRING, "Identity (user or machine name) of an Identity response")
NOTIFICATION = R.define("EAP.Notification", FieldType.STRING, "Text of a Notification request")
DESIRED = R.define("EAP.DesiredType", FieldType.UINT, "A method the peer asks for instead (NAK)", enum=EAP_TYPES)
TLS_FLAGS = R.define("EAP.TLS.Flags", FieldType.UINT, "Flags of EAP-TLS, PEAP, TTLS and FAST")
TLS_LEN_INCLUDED = R.define("EAP.TLS.Flags.LengthIncluded", FieldType.BOOL, "The TLS message length follows")
TLS_MORE = R.define("EAP.TLS.Flags.MoreFragments", FieldType.BOOL, "More fragments of the TLS message follow")
TLS_START = R.define("EAP.TLS.Flags.Start", FieldType.BOOL, "The server starts the method")
TLS_VERSION = R.define("EAP.TLS.Flags.Version", FieldType.UINT, "Method version (PEAP, TTLS, FAST)")
TLS_LENGTH = R.define("EAP.TLS.Length", FieldType.UINT, "Length of the whole TLS message")
TLS_DATA = R.define("EAP.TLS.Data", FieldType.BYTES, "TLS records (or a fragment of them)")
MSCHAP_OPCODE = R.define("EAP.MSCHAPv2.OpCode", FieldType.UINT, "1 Challenge, 2 Response, 3 Success, 4 Failure",
                         enum=MSCHAPV2_OPCODES)
MSCHAP_ID = R.define("EAP.MSCHAPv2.Id", FieldType.UINT, "MS-CHAPv2 identifier")
MSCHAP_LENGTH = R.define("EAP.MSCHAPv2.Length", FieldType.UINT, "MS-CHAPv2 length")
EAP_DATA = R.define("EAP.Data", FieldType.BYTES, "Method data not decoded further")

_TLS_METHOD_NAMES = {13: "TLS", 21: "TTLS", 25: "PEAP", 43: "FAST"}


def _u(d: bytes, a: int, n: int) -> int:
    return int.from_bytes(d[a : a + n], "big")


def _enum_text(value: int, names: dict[int, str]) -> str:
    name = names.get(value)
    return f"{value} ({name})" if name else str(value)


def dissect_eapol(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 4:
        ctx.header_missing(EAPOL, off, end, f"{end - off} bytes, an EAPOL header needs 4", short=True)
        return
    version, kind, length = d[off], d[off + 1], _u(d, off + 2, 2)
    body = off + 4
    stop = min(end, body + length)  # what follows the body is Ethernet padding
    name = EAPOL_TYPES.get(kind, f"Type {kind}")
    layer = ctx.layer(EAPOL, f"Type={name}", off, stop - off)
    layer.fields += (new(VERSION, version, str(version), off, 1),
                     new(TYPE, kind, _enum_text(kind, EAPOL_TYPES), off + 1, 1),
                     new(LENGTH, length, str(length), off + 2, 2))
    if body + length > end:
        ctx.short(layer, f"body of {length} bytes, {end - body} captured")
    if kind == 0:
        if stop > body:
            ctx.call(dissect_eap, body, stop)
    elif kind == 3:
        _key(ctx, layer, body, stop)
    elif stop > body:
        layer.add(BODY, d[body:stop], body, stop - body)


def _key(ctx: Ctx, layer: Layer, off: int, end: int) -> None:
    d = ctx.data
    if end <= off:
        ctx.malformed(layer, "EAPOL-Key without a descriptor")
        return
    desc = d[off]
    layer.add(KEY_TYPE, desc, off, 1, display=_enum_text(desc, KEY_DESCRIPTORS))
    p = off + 1
    if desc == 1:  # RC4 (802.1X-2001): length, replay counter, IV, index, signature, key
        need = 2 + 8 + 16 + 1 + 16
        if end - p < need:
            ctx.short(layer, f"RC4 key descriptor of {end - p} bytes, needs {need}")
            return
        layer.add(KEY_LENGTH, _u(d, p, 2), p, 2)
        layer.add(REPLAY, _u(d, p + 2, 8), p + 2, 8)
        layer.add(KEY_IV, d[p + 10 : p + 26], p + 10, 16)
        layer.add(KEY_INDEX, d[p + 26], p + 26, 1)
        layer.add(KEY_SIGNATURE, d[p + 27 : p + 43], p + 27, 16)
        return
    if desc not in (2, 254):
        return
    need = 2 + 2 + 8 + 32 + 16 + 8 + 8 + 16 + 2
    if end - p < need:
        ctx.short(layer, f"key descriptor of {end - p} bytes, needs {need}")
        return
    info = _u(d, p, 2)
    ki = layer.add(KEY_INFO, info, p, 2, display=f"0x{info:04X}")
    for fdef, bit in ((KI_PAIRWISE, 3), (KI_INSTALL, 6), (KI_ACK, 7), (KI_MIC, 8), (KI_SECURE, 9),
                      (KI_ERROR, 10), (KI_REQUEST, 11), (KI_ENCRYPTED, 12)):
        v = (info >> bit) & 1
        ki.children.append(new(fdef, v, str(v), p + (0 if bit >= 8 else 1), 1, (7 - bit % 8, 1)))
    ki.children.insert(0, new(KI_VERSION, info & 7, str(info & 7), p + 1, 1, (5, 3)))
    layer.add(KEY_LENGTH, _u(d, p + 2, 2), p + 2, 2)
    layer.add(REPLAY, _u(d, p + 4, 8), p + 4, 8)
    nonce = d[p + 12 : p + 44]
    layer.add(NONCE, nonce, p + 12, 32)
    layer.add(KEY_IV, d[p + 44 : p + 60], p + 44, 16)
    layer.add(KEY_RSC, d[p + 60 : p + 68], p + 60, 8)
    layer.add(KEY_MIC, d[p + 76 : p + 92], p + 76, 16)
    dlen = _u(d, p + 92, 2)
    layer.add(KEY_DATA_LENGTH, dlen, p + 92, 2)
    q = p + 94
    if dlen:
        n = min(dlen, end - q)
        layer.add(KEY_DATA, d[q : q + n], q, n)
        if n < dlen:
            ctx.short(layer, f"key data of {dlen} bytes, {n} captured")
    message, group = _message(info, nonce)
    if message:
        layer.add(MESSAGE, message, p, 0, display=str(message))  # (from the key information flags)
        text = f"Group Message {message} of 2" if group else f"Message {message} of 4"
        ctx.set_summary(layer, f"Type=Key, {text}")


def _message(info: int, nonce: bytes) -> tuple[int, bool]:
    """Which handshake message the key information flags make this (0: none of them), and whether
    it is the group key handshake's."""
    ack, mic, install = info & 0x80, info & 0x100, info & 0x40
    if info & 0x0C00:  # error / request frames are not handshake messages
        return 0, False
    if not info & 0x08:  # group key handshake
        return (1 if ack else 2), True
    if ack:
        return (3 if install and mic else 1 if not mic else 0), False
    if not mic:
        return 0, False
    return (4 if not any(nonce) else 2), False


def dissect_eap(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 4:
        ctx.header_missing(EAP, off, end, f"{end - off} bytes, an EAP header needs 4", short=True)
        return
    code, ident, length = d[off], d[off + 1], _u(d, off + 2, 2)
    stop = min(end, off + max(length, 4))
    code_name = EAP_CODES.get(code, f"Code {code}")
    layer = ctx.layer(EAP, code_name, off, stop - off)
    layer.fields += (new(CODE, code, _enum_text(code, EAP_CODES), off, 1),
                     new(IDENTIFIER, ident, str(ident), off + 1, 1),
                     new(EAP_LENGTH, length, str(length), off + 2, 2))
    if length < 4:
        ctx.malformed(layer, f"length {length} is shorter than the header")
        return
    if off + length > end:
        ctx.short(layer, f"packet of {length} bytes, {end - off} captured")
    if code not in (1, 2) or stop <= off + 4:
        return
    t = off + 4
    method = d[t]
    layer.add(EAP_TYPE, method, t, 1, display=_enum_text(method, EAP_TYPES))
    summary = f"{code_name}, {EAP_TYPES.get(method, f'Type {method}')}"
    p = t + 1
    if method == 1:
        text = d[p:stop].decode("utf-8", "replace")
        if text:  # a Request's identity prompt is usually empty: no field, as tshark
            layer.add(IDENTITY, text, p, stop - p)
            summary += f", {text}"
    elif method == 2 and stop > p:
        layer.add(NOTIFICATION, d[p:stop].decode("utf-8", "replace"), p, stop - p)
    elif method == 3:
        for q in range(p, stop):
            layer.add(DESIRED, d[q], q, 1, display=_enum_text(d[q], EAP_TYPES))
        wanted = [EAP_TYPES.get(x, str(x)) for x in d[p:stop]]
        if wanted:
            summary += f", wants {'/'.join(wanted)}"
    elif method in TLS_METHODS:
        summary = _tls_method(ctx, layer, p, stop, summary)
    elif method == 26:
        if stop - p >= 4:
            op, mid, mlen = d[p], d[p + 1], _u(d, p + 2, 2)
            layer.add(MSCHAP_OPCODE, op, p, 1, display=_enum_text(op, MSCHAPV2_OPCODES))
            layer.add(MSCHAP_ID, mid, p + 1, 1)
            layer.add(MSCHAP_LENGTH, mlen, p + 2, 2)
            summary += f", {MSCHAPV2_OPCODES.get(op, f'OpCode {op}')}"
        elif stop > p:
            op = d[p]  # Success/Failure responses are the op-code alone
            layer.add(MSCHAP_OPCODE, op, p, 1, display=_enum_text(op, MSCHAPV2_OPCODES))
            summary += f", {MSCHAPV2_OPCODES.get(op, f'OpCode {op}')}"
    elif stop > p:
        layer.add(EAP_DATA, d[p:stop], p, stop - p)
    ctx.set_summary(layer, summary)


def _tls_method(ctx: Ctx, layer: Layer, p: int, stop: int, summary: str) -> str:
    d = ctx.data
    if stop <= p:
        ctx.malformed(layer, "no flags byte")
        return summary
    flags = d[p]
    f = layer.add(TLS_FLAGS, flags, p, 1, display=f"0x{flags:02X}")
    f.children += (new(TLS_LEN_INCLUDED, flags >> 7, str(flags >> 7), p, 1, (0, 1)),
                   new(TLS_MORE, (flags >> 6) & 1, str((flags >> 6) & 1), p, 1, (1, 1)),
                   new(TLS_START, (flags >> 5) & 1, str((flags >> 5) & 1), p, 1, (2, 1)))
    if d[p - 1] != 13:  # PEAP, TTLS and FAST keep their version in the low bits
        f.children.append(new(TLS_VERSION, flags & 7, str(flags & 7), p, 1, (5, 3)))
    q = p + 1
    if flags & 0x80:
        if stop - q < 4:
            ctx.short(layer, "TLS message length cut short")
            return summary
        layer.add(TLS_LENGTH, _u(d, q, 4), q, 4)
        q += 4
    if stop > q:
        layer.add(TLS_DATA, d[q:stop], q, stop - q)
    if flags & 0x20:
        summary += ", Start"
    elif flags & 0x40:
        summary += ", More Fragments"
    return summary


ETHER_TYPES[0x888E] = dissect_eapol
