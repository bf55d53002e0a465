"""NetBIOS over TCP/IP (RFC 1001/1002): the name service on UDP 137 (Netmon's ``NbtNs``) and the
session service framing on TCP 139 and 445 (``NbtSS``) that SMB rides on.

The name service is DNS's message format with NetBIOS names (the first-level encoding: 32
letters ``A``–``P`` for 16 bytes, the last byte the name's suffix), so it reuses the DNS
dissector under its own protocol name and shows names as tshark does: ``WORKGROUP<1b>``.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Field
from . import dns
from .core import TCP_PORTS, UDP_PORTS, Ctx, Dissector, payload
from .text import ip4_text, new

R = REGISTRY
NB_TYPE_NAMES = {1: "A", 2: "NS", 10: "NULL", 32: "NB", 33: "NBSTAT"}
NB_OPCODE_NAMES = {0: "Query", 5: "Registration", 6: "Release", 7: "WACK", 8: "Refresh", 9: "Refresh",
                   15: "Multi-homed registration"}
NB_RCODE_NAMES = {0: "Success", 1: "Format Error", 2: "Server Failure", 3: "Name Error", 4: "Unsupported Request",
                  5: "Refused", 6: "Active Error", 7: "Name in Conflict"}
#: what a name's suffix byte says it is (the common ones)
SUFFIXES = {0x00: "Workstation Service", 0x03: "Messenger Service", 0x1B: "Domain Master Browser",
            0x1C: "Domain Controllers", 0x1D: "Master Browser", 0x1E: "Browser Election Service",
            0x20: "File Server Service"}


def netbios_name(text: str) -> str:
    """``ENDPOINT01<1c>`` from the DNS-label text of an encoded name (scope labels kept after a dot);
    a first label that is not a first-level encoding is left as it is."""
    first, dot, rest = text.partition(".")
    if len(first) != 32 or any(not "A" <= c <= "P" for c in first):
        return text
    raw = bytes(((ord(first[i]) - 65) << 4) | (ord(first[i + 1]) - 65) for i in range(0, 32, 2))
    name = raw[:15].decode("latin-1").rstrip(" ")
    shown = "".join(c if 0x20 <= ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in name)
    return f"{shown}<{raw[15]:02x}>" + (dot + rest if rest else "")


def _nb_rdata(d: bytes, node: Field, f: dict[str, FieldDef], rtype: int, pos: int, stop: int) -> str:
    """NB records: (flags, IPv4 address) pairs; other types as raw data."""
    if rtype == 32 and (stop - pos) % 6 == 0 and stop > pos:
        texts = []
        for p in range(pos + 2, stop, 6):
            text = ip4_text(d[p : p + 4])
            node.children.append(new(f["IPAddress"], int.from_bytes(d[p : p + 4], "big"), text, p, 4))
            texts.append(text)
        return ", ".join(texts)
    if stop > pos:
        node.add(f["Data"], d[pos:stop], pos, stop - pos)
    return ""


def _nb_summary(qid: int, response: int, opcode: int, rcode: int, questions: list[str], answers: list[str]) -> str:
    op = NB_OPCODE_NAMES.get(opcode, f"Opcode {opcode}")
    name = questions[0] if questions else ""
    if response:
        text = f"{op} Response, {NB_RCODE_NAMES.get(rcode, f'Code {rcode}')}"
        return text + (f" for {name}" if name else "") + (f", {answers[0]}" if answers else "")
    text = f"{op} Request" + (f" for {name}" if name else "")
    suffix = name[-3:-1] if name.endswith(">") else ""
    what = SUFFIXES.get(int(suffix, 16)) if len(suffix) == 2 and all(c in "0123456789abcdef" for c in suffix) else None
    return text + (f" {what}" if what else "")


NBTNS = dns.Names("NBTNS", "NetBIOS name service (RFC 1002), UDP 137", types=NB_TYPE_NAMES, summary=_nb_summary,
                  netbios=dns.NetBios(netbios_name, _nb_rdata))
R.alias("NBNS", "NBTNS")  # Wireshark's and Message Analyzer's spelling


def dissect_nbtns(ctx: Ctx, off: int, end: int) -> None:
    dns.message(ctx, NBTNS, off, off, end, None)


# -- session service ------------------------------------------------------------------------

NBTSS = R.protocol("NbtSS", "NetBIOS session service (RFC 1002): the 4-byte framing SMB uses on TCP 139 and 445")
SS_TYPE = R.define("NbtSS.Type", FieldType.UINT, "Packet type", enum={
    0x00: "Session Message", 0x81: "Session Request", 0x82: "Positive Session Response",
    0x83: "Negative Session Response", 0x84: "Retarget Session Response", 0x85: "Session Keep Alive"})
SS_FLAGS = R.define("NbtSS.Flags", FieldType.UINT, "Flags (bit 0 extends the length on TCP 139)")
SS_LENGTH = R.define("NbtSS.Length", FieldType.UINT, "Bytes of the message after this header")

#: first 4 bytes after the NbtSS header → the dissector of what the session carries (SMB, SMB2)
SESSION_PAYLOADS: dict[bytes, Dissector] = {}
MAX_MESSAGES = 16  # messages read from one segment (each is at least 4 bytes: bound the work)


def valid_header(d: bytes, off: int, end: int) -> bool:
    """Whether ``off`` starts an NbtSS header (what a segment that continues a message lacks).

    The vectorised classifier (fastclassify) applies the same test; keep them together."""
    return end - off >= 4 and d[off] in SS_TYPE.enum and d[off + 1] & 0xFE == 0  # type: ignore[operator]


def dissect_nbtss(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if not valid_header(d, off, end):
        ctx.layer(NBTSS, f"Continuation Message, {end - off} bytes", off, end - off)
        payload(ctx, off, end, "Continuation")
        return
    for _ in range(MAX_MESSAGES):
        kind, flags = d[off], d[off + 1]
        length = ((flags & 1) << 16) | (d[off + 2] << 8) | d[off + 3]
        stop = min(end, off + 4 + length)
        layer = ctx.layer(NBTSS, f"{SS_TYPE.enum.get(kind)}, Length = {length}", off, 4)  # type: ignore[union-attr]
        layer.add(SS_TYPE, kind, off, 1)
        layer.add(SS_FLAGS, flags, off + 1, 1)
        layer.add(SS_LENGTH, length, off + 1, 3)
        inner = SESSION_PAYLOADS.get(d[off + 4 : off + 8]) if kind == 0 and stop - off >= 8 else None
        if inner is not None:
            ctx.call(inner, off + 4, stop)
        else:
            payload(ctx, off + 4, stop)
        off = stop
        # an empty message followed by more bytes is no framing anyone sends: stop there
        if off >= end or length == 0 or not valid_header(d, off, end):
            break
    payload(ctx, off, end)


UDP_PORTS[137] = dissect_nbtns
TCP_PORTS[139] = dissect_nbtss
TCP_PORTS[445] = dissect_nbtss
