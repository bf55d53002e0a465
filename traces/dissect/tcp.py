"""TCP: ports, sequence numbers, flags (each a BOOL field and the whole as ``TCP.Flags``),
window, options and the payload length.

``TCP.Flags`` holds the low 12 bits of the offset/flags word (reserved bits, NS and the eight
classic flags), which is what tshark's ``tcp.flags`` shows; the index keeps the low byte.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from .core import IP_PROTOCOLS, TCP_HEURISTICS, TCP_PORTS, Ctx, payload
from .names import port_text
from .text import new
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
    (FLAG_NS, 0x100, 12, (7, 1)), (FLAG_CWR, 0x80, 13, (0, 1)), (FLAG_ECE, 0x40, 13, (1, 1)),
    (FLAG_URG, 0x20, 13, (2, 1)), (FLAG_ACK, 0x10, 13, (3, 1)), (FLAG_PSH, 0x08, 13, (4, 1)),
    (FLAG_RST, 0x04, 13, (5, 1)), (FLAG_SYN, 0x02, 13, (6, 1)), (FLAG_FIN, 0x01, 13, (7, 1)),
)
_FLAG_LETTERS = "CEUAPRSF"


def _flags_text(flags: int) -> str:
    return "".join(c if flags & (0x80 >> i) else "." for i, c in enumerate(_FLAG_LETTERS))


_FLAGS_TEXTS = tuple(_flags_text(f) for f in range(256))


def flags_text(flags: int) -> str:
    """Netmon's 8-character flag string, e.g. ``...A..S.`` for SYN+ACK."""
    return _FLAGS_TEXTS[flags & 0xFF]


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
    put = layer.fields.append
    put(new(SRC_PORT, sport, str(sport), off, 2))
    put(new(DST_PORT, dport, str(dport), off + 2, 2))
    put(new(SEQUENCE, seq, str(seq), off + 4, 4))
    put(new(ACK, ack, str(ack), off + 8, 4))
    put(new(DATA_OFFSET, word >> 12, f"{word >> 12} ({hl} bytes)", off + 12, 1, (0, 4)))
    fl = new(FLAGS, flags, f"0x{flags:03X} ({flags_text(flags)})", off + 12, 2, (4, 12))
    kids = fl.children
    kids.append(new(FLAG_RESERVED, flags >> 9, str(flags >> 9), off + 12, 1, (4, 3)))
    for fdef, mask, byte, bits in _FLAG_BITS:
        kids.append(new(fdef, 1, "1", off + byte, 1, bits) if flags & mask else new(fdef, 0, "0", off + byte, 1, bits))
    put(fl)
    put(new(WINDOW, window, str(window), off + 14, 2))
    put(new(CHECKSUM, csum, f"0x{csum:04X}", off + 16, 2))
    put(new(URGENT, urgent, str(urgent), off + 18, 2))
    if hl < 20 or hl > avail:
        ctx.set_summary(layer, _summary(flags, sport, dport, None, seq, ack, window))
        if hl < 20:
            ctx.malformed(layer, f"data offset {hl} bytes is less than 20")
        elif not ctx.notes.get("in_error"):
            ctx.short(layer, f"header of {hl} bytes but only {avail} captured")
        payload(ctx, off + 20, end)
        return
    if hl > 20:
        _options(ctx, layer, off + 20, off + hl)
    # payload length from the IP length (a snaplen-truncated capture still knows it)
    l4_len = ctx.notes.get("l4_len")
    plen = l4_len - hl if isinstance(l4_len, int) and l4_len >= hl else end - off - hl
    put(new(PAYLOAD_LENGTH, plen, str(plen), off + hl, 0))
    ctx.set_summary(layer, _summary(flags, sport, dport, plen, seq, ack, window))
    by_port(ctx, TCP_PORTS, sport, dport, off + hl, end, TCP_HEURISTICS)


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
        ctx.short(layer, f"{avail} bytes, a TCP header needs 20")
    payload(ctx, off + (8 if avail >= 8 else 4 if avail >= 4 else 0), end)  # after the fields read


def _options(ctx: Ctx, layer: Layer, off: int, end: int) -> None:
    d = ctx.data
    node = new(OPTIONS, True, f"{end - off} bytes", off, end - off)
    layer.fields.append(node)
    put = node.children.append
    while off < end:
        kind = d[off]
        if kind == 1:
            put(new(OPT_NOP, True, "NOP", off, 1))
            off += 1
            continue
        if kind == 0:
            put(new(OPT_EOL, True, "End of option list", off, end - off))
            return
        n = d[off + 1] if off + 1 < end else 0
        if n < 2 or off + n > end:
            ctx.malformed(layer, f"option kind {kind} at offset {off} has length {n}")
            return
        if kind == 2 and n == 4:
            mss = (d[off + 2] << 8) | d[off + 3]
            put(new(OPT_MSS, mss, str(mss), off + 2, 2))
        elif kind == 3 and n == 3:
            shift = d[off + 2]
            put(new(OPT_WSCALE, shift, f"{shift} (multiply by {1 << min(shift, 14)})", off + 2, 1))
        elif kind == 4 and n == 2:
            put(new(OPT_SACK_PERM, True, "SACK permitted", off, 2))
        elif kind == 5 and n >= 10 and (n - 2) % 8 == 0:
            sack: Field = new(OPT_SACK, True, f"{(n - 2) // 8} block(s)", off, n)
            for b in range(off + 2, off + n, 8):
                left, right = _U32X2.unpack_from(d, b)
                sack.children += (new(OPT_SACK_LEFT, left, str(left), b, 4),
                                  new(OPT_SACK_RIGHT, right, str(right), b + 4, 4))
            put(sack)
        elif kind == 8 and n == 10:
            tsval, tsecr = _U32X2.unpack_from(d, off + 2)
            ts = new(OPT_TS, True, f"TSval {tsval}, TSecr {tsecr}", off, 10)
            ts.children += (new(OPT_TS_VALUE, tsval, str(tsval), off + 2, 4),
                            new(OPT_TS_ECHO, tsecr, str(tsecr), off + 6, 4))
            put(ts)
        else:
            opt = new(OPT_OTHER, True, f"Kind {kind}, {n} bytes", off, n)
            opt.add(OPT_KIND, kind, off, 1)
            opt.add(OPT_LENGTH, n, off + 1, 1)
            if n > 2:
                opt.add(OPT_DATA, d[off + 2 : off + n], off + 2, n - 2)
            put(opt)
        off += n


IP_PROTOCOLS[6] = dissect_tcp
