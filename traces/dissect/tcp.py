"""TCP: ports, sequence numbers, flags (each a BOOL field and the whole as ``TCP.Flags``),
window, options and the payload length.

``TCP.Flags`` holds the low 12 bits of the offset/flags word (reserved bits, NS and the eight
classic flags), which is what tshark's ``tcp.flags`` shows; the index keeps the low byte.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from .core import IP_PROTOCOLS, TCP_PORTS, Ctx, payload
from .names import port_text
from .udp import by_port

R = REGISTRY
TCP = R.protocol("TCP", "Transmission Control Protocol")
SRC_PORT = R.define("TCP.SrcPort", FieldType.UINT, "Source port")
DST_PORT = R.define("TCP.DstPort", FieldType.UINT, "Destination port")
PORT = R.define("TCP.Port", FieldType.UINT, "Source or destination port", pair=("TCP.SrcPort", "TCP.DstPort"))
SEQUENCE = R.define("TCP.SequenceNumber", FieldType.UINT, "Sequence number (absolute)")
ACK = R.define("TCP.AcknowledgementNumber", FieldType.UINT, "Acknowledgement number (absolute)")
DATA_OFFSET = R.define("TCP.DataOffset", FieldType.UINT, "Header length in 32-bit words")
FLAGS = R.define("TCP.Flags", FieldType.UINT, "Reserved bits, NS and the eight flags (12 bits)")
FLAG_RESERVED = R.define("TCP.Flags.Reserved", FieldType.UINT, "Reserved bits (must be 0)")
FLAG_NS = R.define("TCP.Flags.NS", FieldType.BOOL, "ECN nonce sum")
FLAG_CWR = R.define("TCP.Flags.Cwr", FieldType.BOOL, "Congestion window reduced")
FLAG_ECE = R.define("TCP.Flags.Ece", FieldType.BOOL, "ECN echo")
FLAG_URG = R.define("TCP.Flags.Urg", FieldType.BOOL, "Urgent pointer is significant")
FLAG_ACK = R.define("TCP.Flags.Ack", FieldType.BOOL, "Acknowledgement number is significant")
FLAG_PSH = R.define("TCP.Flags.Psh", FieldType.BOOL, "Push")
FLAG_RST = R.define("TCP.Flags.Rst", FieldType.BOOL, "Reset the connection")
FLAG_SYN = R.define("TCP.Flags.Syn", FieldType.BOOL, "Synchronize sequence numbers")
FLAG_FIN = R.define("TCP.Flags.Fin", FieldType.BOOL, "No more data from the sender")
# Netmon's own spellings of the flags (``tcp.flags.reset==1`` is a filter seen in the wild)
for _alias, _target in (("Reset", "Rst"), ("Push", "Psh"), ("Urgent", "Urg"), ("Acknowledgement", "Ack"),
                        ("Synchronize", "Syn"), ("Finish", "Fin"), ("CongestionWindowReduced", "Cwr"),
                        ("EcnEcho", "Ece")):
    R.alias(f"TCP.Flags.{_alias}", f"TCP.Flags.{_target}")
WINDOW = R.define("TCP.Window", FieldType.UINT, "Receive window (unscaled)")
CHECKSUM = R.define("TCP.Checksum", FieldType.UINT, "Checksum")
URGENT = R.define("TCP.UrgentPointer", FieldType.UINT, "Urgent pointer")
PAYLOAD_LENGTH = R.define("TCP.PayloadLength", FieldType.UINT, "Bytes of data after the TCP header")

OPTIONS = R.define("TCP.Options", FieldType.PROTOCOL, "Header options")
OPT_EOL = R.define("TCP.Options.EndOfOptionList", FieldType.PROTOCOL, "End of option list (kind 0)")
OPT_NOP = R.define("TCP.Options.NoOperation", FieldType.PROTOCOL, "No operation / padding (kind 1)")
OPT_MSS = R.define("TCP.Options.MaxSegmentSize", FieldType.UINT, "Maximum segment size (kind 2)")
OPT_WSCALE = R.define("TCP.Options.WindowScale", FieldType.UINT, "Window scale shift count (kind 3)")
OPT_SACK_PERM = R.define("TCP.Options.SackPermitted", FieldType.PROTOCOL, "Selective ACK permitted (kind 4)")
OPT_SACK = R.define("TCP.Options.Sack", FieldType.PROTOCOL, "Selective ACK blocks (kind 5)")
OPT_SACK_LEFT = R.define("TCP.Options.Sack.LeftEdge", FieldType.UINT, "First sequence number of a SACK block")
OPT_SACK_RIGHT = R.define("TCP.Options.Sack.RightEdge", FieldType.UINT, "Sequence number after a SACK block")
OPT_TS = R.define("TCP.Options.Timestamps", FieldType.PROTOCOL, "Timestamps (kind 8)")
OPT_TS_VALUE = R.define("TCP.Options.Timestamps.Value", FieldType.UINT, "Sender's timestamp (TSval)")
OPT_TS_ECHO = R.define("TCP.Options.Timestamps.EchoReply", FieldType.UINT, "Echoed timestamp (TSecr)")
OPT_OTHER = R.define("TCP.Options.Option", FieldType.PROTOCOL, "Another option")
OPT_KIND = R.define("TCP.Options.Option.Kind", FieldType.UINT, "Option kind")
OPT_LENGTH = R.define("TCP.Options.Option.Length", FieldType.UINT, "Option length including kind and length")
OPT_DATA = R.define("TCP.Options.Option.Data", FieldType.BYTES, "Option data")

_HEADER = struct.Struct("!HHIIHHHH")
_U32 = struct.Struct("!I")
_U32X2 = struct.Struct("!II")
#: (field, bit mask in the offset/flags word, bit position in byte 12/13 from the MSB)
_FLAG_BITS = (
    (FLAG_NS, 0x100, 12, 7), (FLAG_CWR, 0x80, 13, 0), (FLAG_ECE, 0x40, 13, 1), (FLAG_URG, 0x20, 13, 2),
    (FLAG_ACK, 0x10, 13, 3), (FLAG_PSH, 0x08, 13, 4), (FLAG_RST, 0x04, 13, 5), (FLAG_SYN, 0x02, 13, 6),
    (FLAG_FIN, 0x01, 13, 7),
)
_FLAG_LETTERS = "CEUAPRSF"


def flags_text(flags: int) -> str:
    """Netmon's 8-character flag string, e.g. ``...A..S.`` for SYN+ACK."""
    return "".join(c if flags & (0x80 >> i) else "." for i, c in enumerate(_FLAG_LETTERS))


def dissect_tcp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 20:
        _short(ctx, off, end)
        return
    sport, dport, seq, ack, word, window, csum, urgent = _HEADER.unpack_from(d, off)
    hl = (word >> 12) * 4
    flags = word & 0x0FFF
    layer = ctx.layer(TCP, "", off, min(max(hl, 20), avail))
    add = layer.add
    add(SRC_PORT, sport, off, 2)
    add(DST_PORT, dport, off + 2, 2)
    add(SEQUENCE, seq, off + 4, 4)
    add(ACK, ack, off + 8, 4)
    add(DATA_OFFSET, word >> 12, off + 12, 1, display=f"{word >> 12} ({hl} bytes)", bits=(0, 4))
    fl = add(FLAGS, flags, off + 12, 2, display=f"0x{flags:03X} ({flags_text(flags)})", bits=(4, 12))
    fadd = fl.add
    fadd(FLAG_RESERVED, flags >> 9, off + 12, 1, bits=(4, 3))
    for fdef, mask, byte, bit in _FLAG_BITS:
        fadd(fdef, 1 if flags & mask else 0, off + byte, 1, bits=(bit, 1))
    add(WINDOW, window, off + 14, 2)
    add(CHECKSUM, csum, off + 16, 2, display=f"0x{csum:04X}")
    add(URGENT, urgent, off + 18, 2)
    if hl < 20 or hl > avail:
        ctx.set_summary(layer, _summary(flags, sport, dport, None, seq, ack, window))
        if hl < 20:
            ctx.malformed(layer, f"data offset {hl} bytes is less than 20")
        elif not ctx.notes.get("in_error"):
            ctx.malformed(layer, f"header of {hl} bytes but only {avail} captured")
        payload(ctx, off + 20, end)
        return
    if hl > 20:
        _options(ctx, layer, off + 20, off + hl)
    # payload length from the IP length (a snaplen-truncated capture still knows it)
    l4_len = ctx.notes.get("l4_len")
    plen = int(l4_len) - hl if isinstance(l4_len, int) and l4_len >= hl else end - off - hl  # type: ignore[operator]
    add(PAYLOAD_LENGTH, plen, off + hl, 0)
    ctx.set_summary(layer, _summary(flags, sport, dport, plen, seq, ack, window))
    by_port(ctx, TCP_PORTS, sport, dport, off + hl, end)


def _summary(flags: int, sport: int, dport: int, plen: int | None, seq: int, ack: int, window: int) -> str:
    seq_text = f"{seq} - {(seq + plen) & 0xFFFFFFFF}" if plen else str(seq)
    plen_text = "" if plen is None else f", PayloadLen={plen}"
    return (f"Flags={flags_text(flags)}, SrcPort={port_text(sport)}, DstPort={port_text(dport)}{plen_text}, "
            f"Seq={seq_text}, Ack={ack}, Win={window}")


def _short(ctx: Ctx, off: int, end: int) -> None:
    """A header cut short: normal in the 8 bytes an ICMP error quotes, damage anywhere else."""
    d = ctx.data
    avail = max(0, end - off)
    layer = ctx.layer(TCP, "", off, avail)
    if avail >= 4:
        sport, dport = struct.unpack_from("!HH", d, off)
        layer.add(SRC_PORT, sport, off, 2)
        layer.add(DST_PORT, dport, off + 2, 2)
        text = f"SrcPort={port_text(sport)}, DstPort={port_text(dport)}"
        if avail >= 8:
            seq = _U32.unpack_from(d, off + 4)[0]
            layer.add(SEQUENCE, seq, off + 4, 4)
            text += f", Seq={seq}"
        ctx.set_summary(layer, text)
    if not ctx.notes.get("in_error"):
        ctx.malformed(layer, f"{avail} bytes, a TCP header needs 20")
    payload(ctx, off + min(avail, 8 if avail >= 8 else 4 if avail >= 4 else 0), end)


def _options(ctx: Ctx, layer: Layer, off: int, end: int) -> None:
    d = ctx.data
    node = layer.add(OPTIONS, True, off, end - off, display=f"{end - off} bytes")
    nadd = node.add
    while off < end:
        kind = d[off]
        if kind == 1:
            nadd(OPT_NOP, True, off, 1, display="NOP")
            off += 1
            continue
        if kind == 0:
            nadd(OPT_EOL, True, off, end - off, display="End of option list")
            return
        n = d[off + 1] if off + 1 < end else 0
        if n < 2 or off + n > end:
            ctx.malformed(layer, f"option kind {kind} at offset {off} has length {n}")
            return
        if kind == 2 and n == 4:
            nadd(OPT_MSS, (d[off + 2] << 8) | d[off + 3], off, 4)
        elif kind == 3 and n == 3:
            shift = d[off + 2]
            nadd(OPT_WSCALE, shift, off, 3, display=f"{shift} (multiply by {1 << min(shift, 14)})")
        elif kind == 4 and n == 2:
            nadd(OPT_SACK_PERM, True, off, 2, display="SACK permitted")
        elif kind == 5 and n >= 10 and (n - 2) % 8 == 0:
            sack: Field = nadd(OPT_SACK, True, off, n, display=f"{(n - 2) // 8} block(s)")
            for b in range(off + 2, off + n, 8):
                left, right = _U32X2.unpack_from(d, b)
                sack.add(OPT_SACK_LEFT, left, b, 4)
                sack.add(OPT_SACK_RIGHT, right, b + 4, 4)
        elif kind == 8 and n == 10:
            tsval, tsecr = _U32X2.unpack_from(d, off + 2)
            ts = nadd(OPT_TS, True, off, 10, display=f"TSval {tsval}, TSecr {tsecr}")
            ts.add(OPT_TS_VALUE, tsval, off + 2, 4)
            ts.add(OPT_TS_ECHO, tsecr, off + 6, 4)
        else:
            opt = nadd(OPT_OTHER, True, off, n, display=f"Kind {kind}, {n} bytes")
            opt.add(OPT_KIND, kind, off, 1)
            opt.add(OPT_LENGTH, n, off + 1, 1)
            if n > 2:
                opt.add(OPT_DATA, d[off + 2 : off + n], off + 2, n - 2)
        off += n


IP_PROTOCOLS[6] = dissect_tcp
