"""IPsec: ESP (IP protocol 50, RFC 4303), AH (IP protocol 51 after IPv4, RFC 4302), UDP-encapsulated
ESP and IKE on UDP 4500 (RFC 3948: a non-ESP marker of four zero bytes says IKE follows, a lone
0xFF byte is a NAT keepalive), and the IKE/ISAKMP header on UDP 500 (RFC 7296 / RFC 2408).

ESP's payload is encrypted: its SPI and sequence number are all a monitor can read, the rest is one
``ESP.EncryptedData`` field.  AH authenticates without encrypting, so what follows it is dissected
as usual from its Next Header (after IPv6, AH is an extension header of the IPv6 layer instead).
IKE is read to its header (SPIs, version, exchange type, flags, message id); its payloads stay bytes.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import IP_PROTOCOLS, UDP_PORTS, Ctx, payload
from .text import new

R = REGISTRY
ESP = R.protocol("ESP", "IPsec Encapsulating Security Payload")
ESP_SPI = R.define("ESP.SPI", FieldType.UINT, "Security parameters index (which security association)")
ESP_SEQUENCE = R.define("ESP.SequenceNumber", FieldType.UINT, "Anti-replay sequence number")
ESP_DATA = R.define("ESP.EncryptedData", FieldType.BYTES, "IV, encrypted payload, padding, trailer and ICV")

AH = R.protocol("AH", "IPsec Authentication Header")
AH_NEXT = R.define("AH.NextHeader", FieldType.UINT, "IP protocol of what AH protects")
AH_LENGTH = R.define("AH.Length", FieldType.UINT, "Header length in 32-bit words, minus 2")
AH_SPI = R.define("AH.SPI", FieldType.UINT, "Security parameters index")
AH_SEQUENCE = R.define("AH.SequenceNumber", FieldType.UINT, "Anti-replay sequence number")
AH_ICV = R.define("AH.ICV", FieldType.BYTES, "Integrity check value")
AH_ICV_LENGTH = R.define("AH.ICVLength", FieldType.UINT, "Length of the integrity check value in bytes")

EXCHANGE_TYPES = {1: "Base", 2: "Identity Protection (Main Mode)", 3: "Authentication Only", 4: "Aggressive",
                  5: "Informational", 6: "Transaction (Config Mode)", 32: "Quick Mode", 33: "New Group Mode",
                  34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL",
                  38: "IKE_SESSION_RESUME", 43: "IKE_INTERMEDIATE", 44: "IKE_FOLLOWUP_KE"}
PAYLOAD_TYPES = {0: "NONE", 1: "Security Association", 2: "Proposal", 3: "Transform", 4: "Key Exchange",
                 5: "Identification", 6: "Certificate", 7: "Certificate Request", 8: "Hash", 9: "Signature",
                 10: "Nonce", 11: "Notification", 12: "Delete", 13: "Vendor ID", 20: "NAT-D", 21: "NAT-OA",
                 33: "Security Association", 34: "Key Exchange", 35: "Identification - Initiator",
                 36: "Identification - Responder", 37: "Certificate", 38: "Certificate Request",
                 39: "Authentication", 40: "Nonce", 41: "Notify", 42: "Delete", 43: "Vendor ID",
                 44: "Traffic Selector - Initiator", 45: "Traffic Selector - Responder", 46: "Encrypted and Authenticated",
                 47: "Configuration", 48: "Extensible Authentication", 53: "Encrypted and Authenticated Fragment"}
IKE = R.protocol("IKE", "Internet Key Exchange (ISAKMP)")
R.alias("ISAKMP", "IKE")
IKE_ISPI = R.define("IKE.InitiatorSPI", FieldType.UINT, "Initiator's security parameters index (cookie)")
IKE_RSPI = R.define("IKE.ResponderSPI", FieldType.UINT, "Responder's security parameters index (0 in the first message)")
IKE_NEXT = R.define("IKE.NextPayload", FieldType.UINT, "Type of the first payload", enum=PAYLOAD_TYPES)
IKE_MAJOR = R.define("IKE.MajorVersion", FieldType.UINT, "Major version (1 IKEv1, 2 IKEv2)")
IKE_MINOR = R.define("IKE.MinorVersion", FieldType.UINT, "Minor version")
IKE_EXCHANGE = R.define("IKE.ExchangeType", FieldType.UINT, "Exchange type (2 Main Mode, 34 IKE_SA_INIT …)",
                        enum=EXCHANGE_TYPES)
IKE_FLAGS = R.define("IKE.Flags", FieldType.UINT, "Header flags")
IKE_INITIATOR = R.define("IKE.Flags.Initiator", FieldType.BOOL, "Sent by the original initiator (IKEv2)")
IKE_RESPONSE = R.define("IKE.Flags.Response", FieldType.BOOL, "A response (IKEv2)")
IKE_ENCRYPTION = R.define("IKE.Flags.Encryption", FieldType.BOOL, "Payloads are encrypted (IKEv1)")
IKE_MESSAGE_ID = R.define("IKE.MessageId", FieldType.UINT, "Message id")
IKE_LENGTH = R.define("IKE.Length", FieldType.UINT, "Length of the whole message")
IKE_PAYLOADS = R.define("IKE.Payloads", FieldType.BYTES, "The payloads after the header (not decoded)")

NAT_T_PORT = 4500


def _u32(d: bytes, a: int) -> int:
    return int.from_bytes(d[a : a + 4], "big")


def dissect_esp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 8:
        layer = ctx.header_missing(ESP, off, end, f"{end - off} bytes, an ESP header needs 8", short=True)
        if end - off >= 4:
            spi = _u32(d, off)
            layer.add(ESP_SPI, spi, off, 4, display=f"0x{spi:08X}")
        return
    spi, seq = _u32(d, off), _u32(d, off + 4)
    layer = ctx.layer(ESP, f"SPI = 0x{spi:08X}, Seq = {seq}", off, end - off)
    layer.fields += (new(ESP_SPI, spi, f"0x{spi:08X}", off, 4), new(ESP_SEQUENCE, seq, str(seq), off + 4, 4))
    if end > off + 8:
        layer.add(ESP_DATA, d[off + 8 : end], off + 8, end - off - 8)


def dissect_ah(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 12:
        ctx.header_missing(AH, off, end, f"{end - off} bytes, an AH header needs 12", short=True)
        return
    nxt, words = d[off], d[off + 1]
    size = (words + 2) * 4
    spi, seq = _u32(d, off + 4), _u32(d, off + 8)
    layer = ctx.layer(AH, f"SPI = 0x{spi:08X}, Seq = {seq}, NextHeader = {nxt}", off, min(size, end - off))
    layer.fields += (new(AH_NEXT, nxt, str(nxt), off, 1), new(AH_LENGTH, words, str(words), off + 1, 1),
                     new(AH_SPI, spi, f"0x{spi:08X}", off + 4, 4), new(AH_SEQUENCE, seq, str(seq), off + 8, 4))
    if size < 12:
        ctx.malformed(layer, f"header length {size} is shorter than the 12-byte header")
        return
    icv = size - 12
    layer.add(AH_ICV_LENGTH, icv, off + 1, 0, display=str(icv))  # (from the header length)
    if off + size > end:
        ctx.short(layer, f"header of {size} bytes, {end - off} captured")
        payload(ctx, off + 12, end)
        return
    if icv:
        layer.add(AH_ICV, d[off + 12 : off + size], off + 12, icv)
    l4_len = ctx.notes.get("l4_len")  # what the IP header says follows it: AH takes its part
    if isinstance(l4_len, int):
        ctx.notes["l4_len"] = l4_len - size
    ctx.next(IP_PROTOCOLS, nxt, off + size, end)


def dissect_ike(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 28:
        ctx.header_missing(IKE, off, end, f"{end - off} bytes, an IKE header needs 28", short=True)
        return
    ispi, rspi = int.from_bytes(d[off : off + 8], "big"), int.from_bytes(d[off + 8 : off + 16], "big")
    nxt, version, exchange, flags = d[off + 16], d[off + 17], d[off + 18], d[off + 19]
    mid, length = _u32(d, off + 20), _u32(d, off + 24)
    major, minor = version >> 4, version & 15
    stop = min(end, off + max(length, 28))
    ex_name = EXCHANGE_TYPES.get(exchange, f"Exchange {exchange}")
    layer = ctx.layer(IKE, "", off, stop - off)
    layer.fields += (new(IKE_ISPI, ispi, f"0x{ispi:016X}", off, 8), new(IKE_RSPI, rspi, f"0x{rspi:016X}", off + 8, 8),
                     new(IKE_NEXT, nxt, f"{nxt} ({PAYLOAD_TYPES[nxt]})" if nxt in PAYLOAD_TYPES else str(nxt),
                         off + 16, 1),
                     new(IKE_MAJOR, major, str(major), off + 17, 1, (0, 4)),
                     new(IKE_MINOR, minor, str(minor), off + 17, 1, (4, 4)),
                     new(IKE_EXCHANGE, exchange, f"{exchange} ({ex_name})", off + 18, 1))
    f = layer.add(IKE_FLAGS, flags, off + 19, 1, display=f"0x{flags:02X}")
    if major >= 2:
        f.children += (new(IKE_INITIATOR, flags >> 3 & 1, str(flags >> 3 & 1), off + 19, 1, (4, 1)),
                       new(IKE_RESPONSE, flags >> 5 & 1, str(flags >> 5 & 1), off + 19, 1, (2, 1)))
        role = f"{'Initiator' if flags & 0x08 else 'Responder'} {'Response' if flags & 0x20 else 'Request'}"
    else:
        f.children.append(new(IKE_ENCRYPTION, flags & 1, str(flags & 1), off + 19, 1, (7, 1)))
        role = "Encrypted" if flags & 1 else ""
    layer.fields += (new(IKE_MESSAGE_ID, mid, f"0x{mid:08X}", off + 20, 4), new(IKE_LENGTH, length, str(length), off + 24, 4))
    summary = f"Version {major}.{minor}, {ex_name}" + (f", {role}" if role else "") + f", MessageId = 0x{mid:08X}"
    ctx.set_summary(layer, summary)
    if length < 28:
        ctx.malformed(layer, f"length {length} is shorter than the 28-byte header")
    elif off + length > end:
        ctx.short(layer, f"message of {length} bytes, {end - off} captured")
    if stop > off + 28:
        layer.add(IKE_PAYLOADS, d[off + 28 : stop], off + 28, stop - off - 28)


def dissect_nat_t(ctx: Ctx, off: int, end: int) -> None:
    """UDP 4500: IKE after a non-ESP marker, a NAT keepalive, or ESP (RFC 3948)."""
    d = ctx.data
    if end - off == 1 and d[off] == 0xFF:
        payload(ctx, off, end, label="NAT-keepalive")
    elif end - off >= 4 and d[off : off + 4] == b"\0\0\0\0":
        ctx.call(dissect_ike, off + 4, end)
    else:
        ctx.call(dissect_esp, off, end)


IP_PROTOCOLS[50] = dissect_esp
IP_PROTOCOLS[51] = dissect_ah
UDP_PORTS[500] = dissect_ike
UDP_PORTS[NAT_T_PORT] = dissect_nat_t
