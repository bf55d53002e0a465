"""MPLS label stacks: one ``MPLS`` layer per label, then the payload after the bottom label.

MPLS does not say what it carries, so we look, as tshark does: a first nibble of 4 or 6 is
IPv4/IPv6; 0 is a pseudowire control word followed by an Ethernet frame (Ethernet over MPLS).
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import ETHER_TYPES, IP_VERSION_ETHER_TYPES, Ctx, payload
from .ethernet import dissect_ethernet

R = REGISTRY
MPLS = R.protocol("MPLS", "Multiprotocol Label Switching label stack entry")
LABEL = R.define("MPLS.Label", FieldType.UINT, "Label value (20 bits)")
TRAFFIC_CLASS = R.define("MPLS.TrafficClass", FieldType.UINT, "Traffic class (formerly EXP)")
BOTTOM = R.define("MPLS.BottomOfStack", FieldType.BOOL, "Last label of the stack")
TTL = R.define("MPLS.TTL", FieldType.UINT, "Time to live")
CONTROL_WORD = R.define("MPLS.ControlWord", FieldType.UINT, "Pseudowire control word (RFC 4448)")
CW_SEQUENCE = R.define("MPLS.ControlWord.SequenceNumber", FieldType.UINT, "Pseudowire sequence number")

MAX_LABELS = 32  # real stacks have a handful; stop walking garbage early
#: the smallest Ethernet frame we accept after a control word (header only)
_MIN_ETHERNET = 14


def dissect_mpls(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    layer = None
    for _ in range(MAX_LABELS):
        if end - off < 4:
            ctx.header_missing(MPLS, off, end, "label stack entry shorter than 4 bytes")
            return
        entry = int.from_bytes(d[off : off + 4], "big")
        label, tc, bottom, ttl = entry >> 12, (entry >> 9) & 7, (entry >> 8) & 1, entry & 0xFF
        layer = ctx.layer(MPLS, f"Label = {label}, TC = {tc}, S = {bottom}, TTL = {ttl}", off, 4)
        add = layer.add
        add(LABEL, label, off, 3, bits=(0, 20))
        add(TRAFFIC_CLASS, tc, off + 2, 1, bits=(4, 3))
        add(BOTTOM, bottom, off + 2, 1, bits=(7, 1))
        add(TTL, ttl, off + 3, 1)
        off += 4
        if bottom:
            break
    else:
        if layer is not None:
            ctx.malformed(layer, f"more than {MAX_LABELS} labels without a bottom of stack")
        payload(ctx, off, end)
        return
    if off >= end:
        return
    nibble = d[off] >> 4
    if nibble in IP_VERSION_ETHER_TYPES:
        ctx.next(ETHER_TYPES, IP_VERSION_ETHER_TYPES[nibble], off, end)
    elif nibble == 0 and end - off >= 4 + _MIN_ETHERNET and layer is not None:
        cw = int.from_bytes(d[off : off + 4], "big")
        node = layer.add(CONTROL_WORD, cw, off, 4, display=f"0x{cw:08X}")
        node.add(CW_SEQUENCE, cw & 0xFFFF, off + 2, 2)
        layer.length += 4
        ctx.call(dissect_ethernet, off + 4, end)
    else:
        payload(ctx, off, end)


ETHER_TYPES[0x8847] = dissect_mpls
ETHER_TYPES[0x8848] = dissect_mpls
