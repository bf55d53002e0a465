"""ARP (and RARP): Ethernet/IPv4 addresses as MAC/IPv4 fields, other sizes as bytes."""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from .core import ETHER_TYPES, Ctx, payload
from .ethernet import ethertype_text
from .text import ip4_text, mac_text, new

R = REGISTRY
OPERATIONS = {1: "Request", 2: "Response", 3: "RARP Request", 4: "RARP Response", 8: "InARP Request",
              9: "InARP Response"}
ARP = R.protocol("ARP", "Address Resolution Protocol")
HW_TYPE = R.define("ARP.HardwareType", FieldType.UINT, "Hardware type (1 Ethernet)")
PROTO_TYPE = R.define("ARP.ProtocolType", FieldType.UINT, "Protocol address type (an EtherType)")
HW_LEN = R.define("ARP.HardwareAddressLength", FieldType.UINT, "Hardware address length")
PROTO_LEN = R.define("ARP.ProtocolAddressLength", FieldType.UINT, "Protocol address length")
OPERATION = R.define("ARP.Operation", FieldType.UINT, "1 request, 2 response …", enum=OPERATIONS)
SENDER_MAC = R.define("ARP.SenderMacAddress", FieldType.MAC, "Sender hardware address")
SENDER_IP = R.define("ARP.SenderIPAddress", FieldType.IPV4, "Sender protocol address")
TARGET_MAC = R.define("ARP.TargetMacAddress", FieldType.MAC, "Target hardware address")
TARGET_IP = R.define("ARP.TargetIPAddress", FieldType.IPV4, "Target protocol address")
SENDER_HW = R.define("ARP.SenderHardwareAddress", FieldType.BYTES, "Sender hardware address (not 6 bytes)")
SENDER_PROTO = R.define("ARP.SenderProtocolAddress", FieldType.BYTES, "Sender protocol address (not IPv4)")
TARGET_HW = R.define("ARP.TargetHardwareAddress", FieldType.BYTES, "Target hardware address (not 6 bytes)")
TARGET_PROTO = R.define("ARP.TargetProtocolAddress", FieldType.BYTES, "Target protocol address (not IPv4)")

_HEADER = struct.Struct("!HHBBH")


def dissect_arp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 8:
        ctx.header_missing(ARP, off, end, f"{avail} bytes, an ARP header needs 8")
        return
    htype, ptype, hlen, plen, op = _HEADER.unpack_from(d, off)
    size = 8 + 2 * (hlen + plen)
    layer = ctx.layer(ARP, OPERATIONS.get(op, f"Operation {op}"), off, min(size, avail))
    add = layer.add
    op_name = OPERATIONS.get(op)
    layer.fields += (new(HW_TYPE, htype, str(htype), off, 2),
                     new(PROTO_TYPE, ptype, ethertype_text(ptype), off + 2, 2),
                     new(HW_LEN, hlen, str(hlen), off + 4, 1), new(PROTO_LEN, plen, str(plen), off + 5, 1),
                     new(OPERATION, op, f"{op} ({op_name})" if op_name else str(op), off + 6, 2))
    if size > avail:
        ctx.malformed(layer, f"addresses need {size - 8} bytes, {avail - 8} captured")
        payload(ctx, off + 8, end)
        return
    mac_ok = hlen == 6
    ip_ok = plen == 4 and ptype == 0x0800
    p = off + 8
    texts = []
    for hw_def, ip_def, raw_hw, raw_ip in ((SENDER_MAC, SENDER_IP, SENDER_HW, SENDER_PROTO),
                                           (TARGET_MAC, TARGET_IP, TARGET_HW, TARGET_PROTO)):
        hw = d[p : p + hlen]
        if mac_ok:
            hw_text = mac_text(hw)
            layer.fields.append(new(hw_def, int.from_bytes(hw, "big"), hw_text, p, 6))
        else:
            add(raw_hw, hw, p, hlen)
            hw_text = hw.hex("-").upper()
        p += hlen
        pa = d[p : p + plen]
        if ip_ok:
            ip_text = ip4_text(pa)
            layer.fields.append(new(ip_def, int.from_bytes(pa, "big"), ip_text, p, 4))
        else:
            add(raw_ip, pa, p, plen)
            ip_text = pa.hex()
        p += plen
        texts.append((hw_text, ip_text))
    (smac, sip), (_tmac, tip) = texts
    if op == 1:
        summary = f"Request, {sip} asks for {tip}"
    elif op == 2:
        summary = f"Response, {sip} at {smac}"
    else:
        summary = f"{OPERATIONS.get(op, f'Operation {op}')}, {sip} ({smac}) to {tip}"
    ctx.set_summary(layer, summary)
    # what follows is Ethernet padding, as after an IP datagram: not a layer of its own


ETHER_TYPES[0x0806] = dissect_arp
ETHER_TYPES[0x8035] = dissect_arp  # RARP uses the same format
