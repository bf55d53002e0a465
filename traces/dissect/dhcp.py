"""DHCP (BOOTP header and options) on UDP ports 67/68.

Each option is a ``DHCP.Option`` node (``Code``, ``Length``) holding one typed field named for
what it carries (``DHCP.MessageType``, ``DHCP.RequestedIPAddress``, ``DHCP.HostName`` …);
options without a decoder keep their bytes in ``DHCP.Option.Value``.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Field, ipv4_text, mac_text
from .core import UDP_PORTS, Ctx, payload

R = REGISTRY
MESSAGE_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
                 8: "INFORM", 9: "FORCERENEW", 10: "LEASEQUERY", 11: "LEASEUNASSIGNED", 12: "LEASEUNKNOWN",
                 13: "LEASEACTIVE"}
OPTION_NAMES = {
    0: "Pad", 1: "Subnet Mask", 2: "Time Offset", 3: "Router", 4: "Time Server", 6: "Domain Name Server",
    12: "Host Name", 15: "Domain Name", 28: "Broadcast Address", 31: "Perform Router Discovery",
    33: "Static Route", 42: "NTP Servers", 43: "Vendor-Specific Information", 44: "NetBIOS Name Server",
    46: "NetBIOS Node Type", 47: "NetBIOS Scope", 50: "Requested IP Address", 51: "IP Address Lease Time",
    52: "Option Overload", 53: "DHCP Message Type", 54: "Server Identifier", 55: "Parameter Request List",
    56: "Message", 57: "Maximum DHCP Message Size", 58: "Renewal Time", 59: "Rebinding Time",
    60: "Vendor Class Identifier", 61: "Client Identifier", 66: "TFTP Server Name", 67: "Bootfile Name",
    81: "Client FQDN", 82: "Relay Agent Information", 119: "Domain Search", 121: "Classless Static Route",
    249: "Private/Classless Static Route (Microsoft)", 252: "Private/Proxy autodiscovery", 255: "End",
}

DHCP = R.protocol("DHCP", "Dynamic Host Configuration Protocol (BOOTP)")
OPCODE = R.define("DHCP.OpCode", FieldType.UINT, "1 request, 2 reply", enum={1: "Request", 2: "Reply"})
HW_TYPE = R.define("DHCP.HardwareType", FieldType.UINT, "Hardware address type (1 Ethernet)")
HW_LEN = R.define("DHCP.HardwareAddressLength", FieldType.UINT, "Hardware address length")
HOPS = R.define("DHCP.HopCount", FieldType.UINT, "Relay agent hops")
XID = R.define("DHCP.TransactionID", FieldType.UINT, "Transaction id chosen by the client")
SECONDS = R.define("DHCP.Seconds", FieldType.UINT, "Seconds since the client began")
FLAGS = R.define("DHCP.Flags", FieldType.UINT, "Flags word")
FLAG_BROADCAST = R.define("DHCP.Flags.Broadcast", FieldType.BOOL, "Client asks for a broadcast reply")
CLIENT_IP = R.define("DHCP.ClientIP", FieldType.IPV4, "Client's current address (ciaddr)")
YOUR_IP = R.define("DHCP.YourIP", FieldType.IPV4, "Address offered/assigned to the client (yiaddr)")
SERVER_IP = R.define("DHCP.ServerIP", FieldType.IPV4, "Next server to use (siaddr)")
RELAY_IP = R.define("DHCP.RelayAgentIP", FieldType.IPV4, "Relay agent address (giaddr)")
CLIENT_MAC = R.define("DHCP.ClientHardwareAddress", FieldType.MAC, "Client MAC address (chaddr, 6-byte)")
CLIENT_HW = R.define("DHCP.ClientHardwareData", FieldType.BYTES, "Client hardware address (other lengths)")
SERVER_NAME = R.define("DHCP.ServerHostName", FieldType.STRING, "Server host name (sname)")
BOOT_FILE = R.define("DHCP.BootFileName", FieldType.STRING, "Boot file name (file)")
MAGIC = R.define("DHCP.MagicCookie", FieldType.UINT, "0x63825363 when DHCP options follow")
OPTION = R.define("DHCP.Option", FieldType.PROTOCOL, "One option")
OPTION_CODE = R.define("DHCP.Option.Code", FieldType.UINT, "Option code", enum=OPTION_NAMES)
OPTION_LENGTH = R.define("DHCP.Option.Length", FieldType.UINT, "Option data length")
OPTION_VALUE = R.define("DHCP.Option.Value", FieldType.BYTES, "Data of an option without a decoder")
MESSAGE_TYPE = R.define("DHCP.MessageType", FieldType.UINT, "DHCP message type (option 53)", enum=MESSAGE_TYPES)
SUBNET_MASK = R.define("DHCP.SubnetMask", FieldType.IPV4, "Subnet mask (option 1)")
ROUTER = R.define("DHCP.Router", FieldType.IPV4, "Router (option 3)")
DNS_SERVER = R.define("DHCP.DomainNameServer", FieldType.IPV4, "DNS server (option 6)")
HOST_NAME = R.define("DHCP.HostName", FieldType.STRING, "Client host name (option 12)")
DOMAIN_NAME = R.define("DHCP.DomainName", FieldType.STRING, "Domain name (option 15)")
REQUESTED_IP = R.define("DHCP.RequestedIPAddress", FieldType.IPV4, "Address the client asks for (option 50)")
LEASE_TIME = R.define("DHCP.LeaseTime", FieldType.UINT, "Lease time in seconds (option 51)")
SERVER_ID = R.define("DHCP.ServerIdentifier", FieldType.IPV4, "Server identifier (option 54)")
PARAMETER = R.define("DHCP.ParameterRequest", FieldType.UINT, "An option the client asks for (option 55)",
                     enum=OPTION_NAMES)
MAX_SIZE = R.define("DHCP.MaximumMessageSize", FieldType.UINT, "Maximum DHCP message size (option 57)")
RENEWAL = R.define("DHCP.RenewalTime", FieldType.UINT, "Renewal (T1) time in seconds (option 58)")
REBINDING = R.define("DHCP.RebindingTime", FieldType.UINT, "Rebinding (T2) time in seconds (option 59)")
VENDOR_CLASS = R.define("DHCP.VendorClassIdentifier", FieldType.STRING, "Vendor class identifier (option 60)")
CLIENT_ID = R.define("DHCP.ClientIdentifier", FieldType.BYTES, "Client identifier (option 61)")
CLIENT_ID_TYPE = R.define("DHCP.ClientIdentifier.HardwareType", FieldType.UINT,
                          "Hardware type of a client identifier (1 Ethernet)")
CLIENT_ID_MAC = R.define("DHCP.ClientIdentifier.MacAddress", FieldType.MAC,
                         "MAC address in a hardware-type-1 client identifier")

_HEADER = struct.Struct("!BBBBIHHIIII")
MAGIC_COOKIE = 0x63825363
_IPV4_LISTS = {1: SUBNET_MASK, 3: ROUTER, 6: DNS_SERVER, 50: REQUESTED_IP, 54: SERVER_ID}
_U32S = {51: LEASE_TIME, 58: RENEWAL, 59: REBINDING}
_STRINGS = {12: HOST_NAME, 15: DOMAIN_NAME, 60: VENDOR_CLASS}


def _cstring(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("latin-1")


def dissect_dhcp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    layer = ctx.layer(DHCP, "", off, avail)
    if avail < 28:
        ctx.short(layer, f"{avail} bytes, a BOOTP header needs 236")
        payload(ctx, off, end)
        return
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi = _HEADER.unpack_from(d, off)
    add = layer.add
    add(OPCODE, op, off, 1)
    add(HW_TYPE, htype, off + 1, 1)
    add(HW_LEN, hlen, off + 2, 1)
    add(HOPS, hops, off + 3, 1)
    add(XID, xid, off + 4, 4, display=f"0x{xid:08X}")
    add(SECONDS, secs, off + 8, 2)
    fl = add(FLAGS, flags, off + 10, 2, display=f"0x{flags:04X}")
    fl.add(FLAG_BROADCAST, flags >> 15, off + 10, 1, bits=(0, 1))
    add(CLIENT_IP, ci, off + 12, 4)
    add(YOUR_IP, yi, off + 16, 4)
    add(SERVER_IP, si, off + 20, 4)
    add(RELAY_IP, gi, off + 24, 4)
    kind = {1: "Request", 2: "Reply"}.get(op, f"Op {op}")
    head = f"{kind}, "
    tail = f"TransactionID = 0x{xid:08X}"
    ctx.set_summary(layer, head + tail)
    if avail >= 44:
        if hlen == 6:
            add(CLIENT_MAC, int.from_bytes(d[off + 28 : off + 34], "big"), off + 28, 6)
        elif 0 < hlen <= 16:
            add(CLIENT_HW, d[off + 28 : off + 28 + hlen], off + 28, hlen)
    if avail >= 236:
        add(SERVER_NAME, _cstring(d[off + 44 : off + 108]), off + 44, 64)
        add(BOOT_FILE, _cstring(d[off + 108 : off + 236]), off + 108, 128)
    if avail < 240:
        ctx.short(layer, f"{avail} of at least 240 bytes")
        return
    cookie = int.from_bytes(d[off + 236 : off + 240], "big")
    add(MAGIC, cookie, off + 236, 4, display=f"0x{cookie:08X}")
    if cookie != MAGIC_COOKIE:  # plain BOOTP: vendor area
        ctx.set_summary(layer, f"BOOTP {head}{tail}")
        payload(ctx, off + 240, end)
        return
    pos = off + 240
    msg_type: int | None = None
    while pos < end:
        code = d[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            node = add(OPTION, True, pos, 1, display="End")
            node.add(OPTION_CODE, 255, pos, 1)
            pos += 1
            break
        if pos + 2 > end or pos + 2 + d[pos + 1] > end:
            ctx.short(layer, f"option {code} at offset {pos - off} runs past the end")
            break
        n = d[pos + 1]
        node = add(OPTION, True, pos, n + 2, display=OPTION_NAMES.get(code, f"Option {code}"))
        node.add(OPTION_CODE, code, pos, 1)
        node.add(OPTION_LENGTH, n, pos + 1, 1)
        value = _option(d, node, code, pos + 2, n)
        if value is not None:
            msg_type = value
            node.display = f"DHCP Message Type: {MESSAGE_TYPES.get(value, value)}"
        pos += n + 2
    if msg_type is not None:
        ctx.set_summary(layer, f"{head}MsgType = {MESSAGE_TYPES.get(msg_type, msg_type)}, {tail}")
    layer.length = pos - off
    payload(ctx, pos, end)  # padding after the End option


def _option(d: bytes, node: Field, code: int, p: int, n: int) -> int | None:
    """Add the typed field of one option; returns the message type for option 53."""
    add = node.add
    if code == 53 and n == 1:
        add(MESSAGE_TYPE, d[p], p, 1)
        return d[p]
    fdef: FieldDef | None = _IPV4_LISTS.get(code)
    if fdef is not None and n and n % 4 == 0:
        for a in range(p, p + n, 4):
            v = int.from_bytes(d[a : a + 4], "big")
            add(fdef, v, a, 4, display=ipv4_text(v))
        return None
    fdef = _U32S.get(code)
    if fdef is not None and n == 4:
        add(fdef, int.from_bytes(d[p : p + 4], "big"), p, 4)
        return None
    fdef = _STRINGS.get(code)
    if fdef is not None:
        add(fdef, _cstring(d[p : p + n]), p, n)
        return None
    if code == 55:
        for i in range(n):
            add(PARAMETER, d[p + i], p + i, 1)
        return None
    if code == 57 and n == 2:
        add(MAX_SIZE, (d[p] << 8) | d[p + 1], p, 2)
        return None
    if code == 61 and n:
        client = d[p : p + n]
        if n == 7 and client[0] == 1:
            v = int.from_bytes(client[1:], "big")
            node = add(CLIENT_ID, client, p, n, display=f"Ethernet, {mac_text(v)}")
            node.add(CLIENT_ID_TYPE, 1, p, 1)
            node.add(CLIENT_ID_MAC, v, p + 1, 6)
        else:
            add(CLIENT_ID, client, p, n, display=client.hex(" "))
        return None
    if n:
        add(OPTION_VALUE, d[p : p + n], p, n)
    return None


UDP_PORTS[67] = dissect_dhcp
UDP_PORTS[68] = dissect_dhcp
