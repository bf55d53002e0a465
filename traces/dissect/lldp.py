"""LLDP (IEEE 802.1AB, EtherType 0x88CC): the mandatory TLVs (chassis id, port id, TTL) and the
basic optional ones (port description, system name and description, capabilities, management
address); organisationally specific TLVs are listed with their OUI.

Every byte of the frame after the Ethernet header is the LLDPDU (or padding after its End TLV),
so the index classifies every 0x88CC frame as LLDP without dissecting it (``fastclassify``).
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Field
from .core import ETHER_TYPES, Ctx
from .text import ip4_text, ip6_text, mac_text, new

R = REGISTRY
TLV_TYPES = {0: "End of LLDPDU", 1: "Chassis Id", 2: "Port Id", 3: "Time To Live", 4: "Port Description",
             5: "System Name", 6: "System Description", 7: "System Capabilities", 8: "Management Address",
             127: "Organization Specific"}
CHASSIS_SUBTYPES = {1: "Chassis component", 2: "Interface alias", 3: "Port component", 4: "MAC address",
                    5: "Network address", 6: "Interface name", 7: "Locally assigned"}
PORT_SUBTYPES = {1: "Interface alias", 2: "Port component", 3: "MAC address", 4: "Network address",
                 5: "Interface name", 6: "Agent circuit Id", 7: "Locally assigned"}
CAPABILITIES = ("Other", "Repeater", "Bridge", "WLAN access point", "Router", "Telephone", "DOCSIS cable device",
                "Station only")
#: IANA address family numbers used by the network-address subtypes and management addresses
ADDRESS_FAMILIES = {1: "IPv4", 2: "IPv6", 6: "802 (MAC)"}

LLDP = R.protocol("LLDP", "Link Layer Discovery Protocol (IEEE 802.1AB)")
TLV = R.define("LLDP.TLV", FieldType.PROTOCOL, "One type-length-value element")
TLV_TYPE = R.define("LLDP.TLV.Type", FieldType.UINT, "TLV type (1 chassis id, 2 port id, 3 TTL …)", enum=TLV_TYPES)
TLV_LENGTH = R.define("LLDP.TLV.Length", FieldType.UINT, "Length of the TLV value")
CHASSIS_SUBTYPE = R.define("LLDP.ChassisId.Subtype", FieldType.UINT, "What the chassis id is (4 MAC address …)",
                           enum=CHASSIS_SUBTYPES)
CHASSIS_ID = R.define("LLDP.ChassisId", FieldType.STRING, "Chassis id (MAC and network addresses as text)")
PORT_SUBTYPE = R.define("LLDP.PortId.Subtype", FieldType.UINT, "What the port id is (5 interface name …)",
                        enum=PORT_SUBTYPES)
PORT_ID = R.define("LLDP.PortId", FieldType.STRING, "Port id (MAC and network addresses as text)")
TTL = R.define("LLDP.TimeToLive", FieldType.UINT, "Seconds the information stays valid (0: forget it)")
PORT_DESC = R.define("LLDP.PortDescription", FieldType.STRING, "Port description")
SYSTEM_NAME = R.define("LLDP.SystemName", FieldType.STRING, "System name")
SYSTEM_DESC = R.define("LLDP.SystemDescription", FieldType.STRING, "System description")
CAPS = R.define("LLDP.Capabilities", FieldType.UINT, "System capabilities (bit mask)")
ENABLED_CAPS = R.define("LLDP.EnabledCapabilities", FieldType.UINT, "Enabled capabilities (bit mask)")
CAP_BITS = [R.define(f"LLDP.EnabledCapabilities.{name.title().replace(' ', '')}", FieldType.BOOL,
                     f"{name} capability enabled") for name in CAPABILITIES]
MGMT_SUBTYPE = R.define("LLDP.ManagementAddress.Subtype", FieldType.UINT, "Address family (1 IPv4, 2 IPv6)",
                        enum=ADDRESS_FAMILIES)
MGMT_ADDRESS = R.define("LLDP.ManagementAddress", FieldType.STRING, "Management address")
MGMT_IF_SUBTYPE = R.define("LLDP.ManagementAddress.InterfaceSubtype", FieldType.UINT,
                           "Interface numbering (2 ifIndex, 3 system port number)")
MGMT_IF_NUMBER = R.define("LLDP.ManagementAddress.InterfaceNumber", FieldType.UINT, "Interface number")
ORG_OUI = R.define("LLDP.OrganizationSpecific.OUI", FieldType.UINT, "Organisation of a vendor TLV")
ORG_SUBTYPE = R.define("LLDP.OrganizationSpecific.Subtype", FieldType.UINT, "Subtype of a vendor TLV")
VALUE = R.define("LLDP.TLV.Value", FieldType.BYTES, "Value of a TLV not decoded further")


def _address(family: int, raw: bytes) -> str:
    if family == 1 and len(raw) == 4:
        return ip4_text(raw)
    if family == 2 and len(raw) == 16:
        return ip6_text(raw)
    if family == 6 and len(raw) == 6:
        return mac_text(raw)
    return raw.hex()


def _id_text(subtype: int, raw: bytes, mac_subtype: int, net_subtype: int) -> str:
    if subtype == mac_subtype and len(raw) == 6:
        return mac_text(raw)
    if subtype == net_subtype and raw:
        return _address(raw[0], raw[1:])
    return raw.decode("utf-8", "replace")


def dissect_lldp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    layer = ctx.layer(LLDP, "", off, end - off)
    parts: dict[str, str] = {}
    p = off
    ended = False
    while p < end:
        if end - p < 2:
            ctx.short(layer, "TLV header cut short")
            break
        head = (d[p] << 8) | d[p + 1]
        kind, length = head >> 9, head & 0x1FF
        v, stop = p + 2, p + 2 + length
        node = layer.add(TLV, TLV_TYPES.get(kind, f"Type {kind}"), p, min(stop, end) - p,
                         display=TLV_TYPES.get(kind, f"Type {kind}"))
        node.children += (new(TLV_TYPE, kind, str(kind), p, 2, (0, 7)),
                          new(TLV_LENGTH, length, str(length), p, 2, (7, 9)))
        if stop > end:
            ctx.short(layer, f"{TLV_TYPES.get(kind, f'TLV type {kind}')} of {length} bytes, {end - v} captured")
            break
        _value(node, kind, d, v, stop, parts)
        p = stop
        if kind == 0:
            ended = True
            break
    layer.length = p - off if ended else end - off
    summary = ", ".join(f"{k} = {parts[k]}" for k in ("ChassisId", "PortId", "TTL", "SystemName") if k in parts)
    ctx.set_summary(layer, summary)
    # bytes after the End TLV are Ethernet padding, as after ARP: not a layer


def _value(node: Field, kind: int, d: bytes, v: int, stop: int, parts: dict[str, str]) -> None:
    add = node.add
    n = stop - v
    if kind in (1, 2) and n >= 1:
        sub, raw = d[v], d[v + 1 : stop]
        if kind == 1:
            text = _id_text(sub, raw, 4, 5)
            add(CHASSIS_SUBTYPE, sub, v, 1)
            add(CHASSIS_ID, text, v + 1, n - 1)
            parts["ChassisId"] = text
        else:
            text = _id_text(sub, raw, 3, 4)
            add(PORT_SUBTYPE, sub, v, 1)
            add(PORT_ID, text, v + 1, n - 1)
            parts["PortId"] = text
    elif kind == 3 and n >= 2:
        ttl = (d[v] << 8) | d[v + 1]
        add(TTL, ttl, v, 2)
        parts["TTL"] = str(ttl)
    elif kind in (4, 5, 6):
        text = d[v:stop].decode("utf-8", "replace")
        add((PORT_DESC, SYSTEM_NAME, SYSTEM_DESC)[kind - 4], text, v, n)
        if kind == 5:
            parts["SystemName"] = text
    elif kind == 7 and n >= 4:
        caps, enabled = (d[v] << 8) | d[v + 1], (d[v + 2] << 8) | d[v + 3]
        add(CAPS, caps, v, 2, display=_caps_text(caps))
        e = add(ENABLED_CAPS, enabled, v + 2, 2, display=_caps_text(enabled))
        for bit, fdef in enumerate(CAP_BITS):
            flag = (enabled >> bit) & 1
            e.children.append(new(fdef, flag, str(flag), v + 2 + (0 if bit >= 8 else 1), 1, (7 - bit % 8, 1)))
    elif kind == 8 and n >= 1:
        _management(node, d, v, stop)
    elif kind == 127 and n >= 4:
        add(ORG_OUI, int.from_bytes(d[v : v + 3], "big"), v, 3, display=f"0x{int.from_bytes(d[v:v + 3], 'big'):06X}")
        add(ORG_SUBTYPE, d[v + 3], v + 3, 1)
        if n > 4:
            add(VALUE, d[v + 4 : stop], v + 4, n - 4)
    elif n and kind != 0:
        add(VALUE, d[v:stop], v, n)


def _caps_text(mask: int) -> str:
    names = [name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1]
    return f"0x{mask:04X} ({', '.join(names)})" if names else f"0x{mask:04X}"


def _management(node: Field, d: bytes, v: int, stop: int) -> None:
    alen = d[v]  # the length counts the subtype byte
    if alen < 1 or v + 1 + alen > stop:
        node.add(VALUE, d[v:stop], v, stop - v)
        return
    family, raw = d[v + 1], d[v + 2 : v + 1 + alen]
    node.add(MGMT_SUBTYPE, family, v + 1, 1)
    node.add(MGMT_ADDRESS, _address(family, raw), v + 2, alen - 1)
    q = v + 1 + alen
    if stop - q >= 5:
        node.add(MGMT_IF_SUBTYPE, d[q], q, 1)
        node.add(MGMT_IF_NUMBER, int.from_bytes(d[q + 1 : q + 5], "big"), q + 1, 4)


ETHER_TYPES[0x88CC] = dissect_lldp
