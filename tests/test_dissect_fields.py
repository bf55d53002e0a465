"""Field registry entries, byte ranges and Netmon's summary columns.

The values themselves are checked against tshark elsewhere; here: the names filters use exist
with the right types, every field's byte range really holds its value (what the hex pane
highlights), and the Source/Destination/Protocol Name/Description columns follow Netmon.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from test_dissect_robustness import corpus, run
from test_dissect_synthetic import MAC_A, a4, dns_query, eth, icmp, ipv4, ipv6, tcp, udp
from tracemon.traces import REGISTRY, FieldType, Frame
from tracemon.traces.dissect import dissect

T = FieldType
NETMON_NAMES = {
    "Ethernet.SourceAddress": T.MAC, "Ethernet.DestinationAddress": T.MAC,
    "IPv4.SourceAddress": T.IPV4, "IPv4.DestinationAddress": T.IPV4, "IPv4.TotalLength": T.UINT,
    "IPv4.TimeToLive": T.UINT, "IPv4.TTL": T.UINT, "IPv4.NextProtocol": T.UINT, "IPv4.Identification": T.UINT,
    "IPv4.FragmentOffset": T.UINT, "IPv4.Flags.MoreFragments": T.BOOL, "IPv4.Flags.DontFragment": T.BOOL,
    "IPv6.SourceAddress": T.IPV6, "IPv6.DestinationAddress": T.IPV6, "IPv6.NextProtocol": T.UINT,
    "IPv6.PayloadLength": T.UINT, "IPv6.HopLimit": T.UINT,
    "TCP.SrcPort": T.UINT, "TCP.DstPort": T.UINT, "TCP.SequenceNumber": T.UINT,
    "TCP.AcknowledgementNumber": T.UINT, "TCP.Flags": T.UINT, "TCP.Window": T.UINT, "TCP.PayloadLength": T.UINT,
    **{f"TCP.Flags.{x}": T.BOOL for x in ("Syn", "Ack", "Fin", "Rst", "Psh", "Urg", "Ece", "Cwr", "NS", "Reset")},
    "UDP.SrcPort": T.UINT, "UDP.DstPort": T.UINT, "UDP.TotalLength": T.UINT,
    "ICMP.Type": T.UINT, "ICMP.Code": T.UINT, "ICMPv6.Type": T.UINT, "ICMPv6.TargetAddress": T.IPV6,
    "ARP.SenderIPAddress": T.IPV4, "ARP.TargetIPAddress": T.IPV4, "ARP.Operation": T.UINT,
    "ARP.SenderMacAddress": T.MAC,
    "DNS.QueryIdentifier": T.UINT, "DNS.Flags.Response": T.BOOL, "DNS.QRecord.QuestionName": T.STRING,
    "DNS.QRecord.QuestionType": T.UINT, "DNS.ARecord.Name": T.STRING, "DNS.ARecord.IPAddress": T.IPV4,
    "DNS.ARecord.IPv6Address": T.IPV6, "DNS.AdditionalRecord.IPAddress": T.IPV4,
    "DHCP.MessageType": T.UINT, "DHCP.RequestedIPAddress": T.IPV4, "DHCP.ServerIdentifier": T.IPV4,
    "DHCP.LeaseTime": T.UINT, "DHCP.HostName": T.STRING, "DHCP.ParameterRequest": T.UINT,
    "DHCP.ClientHardwareAddress": T.MAC,
    "WiFi.SourceAddress": T.MAC, "WiFi.BSSID": T.MAC, "WiFi.FrameControl.Protected": T.BOOL,
    "Radiotap.AntennaSignal": T.INT, "SLL.Protocol": T.UINT, "Loopback.Family": T.UINT, "MPLS.Label": T.UINT,
    "IGMP.GroupAddress": T.IPV4, "GRE.ProtocolType": T.UINT, "VLAN.VlanId": T.UINT,
}
PAIRS = {"IPv4.Address": T.IPV4, "IPv6.Address": T.IPV6, "TCP.Port": T.UINT, "UDP.Port": T.UINT,
         "Ethernet.Address": T.MAC}


@pytest.mark.parametrize("name", sorted(NETMON_NAMES))
def test_netmon_names_are_registered_with_their_types(name: str) -> None:
    fdef = REGISTRY.get(name)
    assert fdef is not None, f"{name} is not registered"
    assert fdef.type is NETMON_NAMES[name]
    assert fdef.description
    # lookups are case-insensitive
    assert REGISTRY.get(name.upper()) is fdef


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pair_fields_name_both_sides(name: str) -> None:
    fdef = REGISTRY.get(name)
    assert fdef is not None and fdef.type is PAIRS[name] and len(fdef.pair) == 2
    assert all(REGISTRY.get(side) is not None and REGISTRY.get(side).type is PAIRS[name] for side in fdef.pair)


def frame_of(data: bytes, link: int = 1) -> Frame:
    ctx = dissect(data, link)
    return Frame(0, 0, data, ctx.layers, len(data), len(data), link_type=link, source=ctx.source,
                 destination=ctx.destination, protocol_name=ctx.protocol_name, description=ctx.description)


def test_pair_and_alias_lookups_on_a_frame() -> None:
    f = frame_of(eth(0x0800, ipv4(6, tcp(52342, 80, 0x004), src="10.0.0.1", dst="10.0.0.2")))
    assert f.values("ipv4.address") == [0x0A000001, 0x0A000002]
    assert f.values("TCP.Port") == [52342, 80]
    assert f.values("tcp.flags.reset") == [1] and f.values("TCP.Flags.Rst") == [1]
    assert f.values("IPv4.TTL") == f.values("IPv4.TimeToLive") == [64]


# -- every field's bytes hold its value ---------------------------------------------------

#: fields whose value is a transformation of their bytes (documented in their descriptions)
TRANSFORMS: dict[str, Callable[[bytes], int]] = {
    # HTTP numbers are ASCII digits
    "HTTP.Response.StatusCode": lambda b: int(b),
    "HTTP.ContentLength": lambda b: int(b),
    "IPv4.HeaderLength": lambda b: (b[0] & 15) * 4,
    "IPv6.Extension.Length": lambda b: (b[0] + 1) * 8,  # AH (4-byte units) is not in the corpus
    "ICMPv6.Option.Length": lambda b: b[0] * 8,
    "WiFi.SequenceNumber": lambda b: int.from_bytes(b, "little") >> 4,
    "Radiotap.VendorNamespace.OUI": lambda b: int.from_bytes(b, "big"),  # an OUI reads as written
    # 100 kb/s units, or b/s already when the value is that large (as Wireshark reads it)
    "AVS.Version": lambda b: int.from_bytes(b, "big") - 0x80211000,  # the magic cookie's revision
    "AVS.DataRate": lambda b: int.from_bytes(b, "big") * (100000 if int.from_bytes(b, "big") < 100000 else 1),
}
#: facts derived from bytes rather than read from them, and host-byte-order values
DERIVED = {"Ethernet.Broadcast", "Loopback.Family"}
#: (MSRPC: the data representation says; every PDU in the samples is little-endian, as Windows sends;
#: RDPBCGR: the negotiation structures are little-endian, MS-RDPBCGR §2.2.1.1.1)
LITTLE_ENDIAN_LAYERS = {"WiFi", "Radiotap", "SMB", "SMB2", "NTLMSSP", "MSRPC", "RDPBCGR"}


def test_field_bytes_hold_the_field_value() -> None:
    checked = 0
    for link, data in corpus():
        ctx = run(data, link)
        for layer in ctx.layers:
            order = "little" if layer.name in LITTLE_ENDIAN_LAYERS else "big"
            if layer.name == "Prism":  # the capturing host's order, which the message code shows
                order = "little" if data[layer.start] in (0x41, 0x44) else "big"
            for f in layer.walk():
                if f.fdef is None or f.start < 0 or f.length <= 0 or f.name in DERIVED:
                    continue
                raw = data[f.start : f.start + f.length]
                t = f.fdef.type
                if f.name in TRANSFORMS:
                    want = TRANSFORMS[f.name](raw)
                elif t in (T.IPV4, T.IPV6, T.MAC):
                    want = int.from_bytes(raw, "big")
                elif t is T.BYTES:
                    want = raw
                elif t in (T.UINT, T.BOOL, T.INT):
                    if f.bits is not None:
                        first, count = f.bits
                        want = (int.from_bytes(raw, "big") >> (8 * f.length - first - count)) & ((1 << count) - 1)
                    else:
                        want = int.from_bytes(raw, order, signed=t is T.INT)
                else:
                    continue
                assert f.value == want, f"{f.name} = {f.value!r}, bytes {raw.hex()} at {f.start} hold {want!r}"
                checked += 1
    assert checked > 10_000


# -- Netmon's summary columns ---------------------------------------------------------------

def test_tcp_description_is_netmon_style() -> None:
    f = frame_of(eth(0x0800, ipv4(6, tcp(52342, 80, 0x002, seq=123, window=8192))))
    assert f.protocol_name == "TCP"
    assert f.description == ("TCP:Flags=......S., SrcPort=52342, DstPort=HTTP(80), PayloadLen=0, Seq=123, Ack=0, "
                             "Win=8192")
    f = frame_of(eth(0x0800, ipv4(6, tcp(80, 52342, 0x012, seq=7, ack=124, window=5792))))
    assert f.description.startswith("TCP:Flags=...A..S., SrcPort=HTTP(80), DstPort=52342, PayloadLen=0")


def test_dns_query_description() -> None:
    f = frame_of(eth(0x0800, ipv4(17, udp(50000, 53, dns_query(0x1A2B, "www.example.com")))))
    assert f.protocol_name == "DNS"
    assert f.description == ("DNS:QueryId = 0x1A2B, QUERY (Standard query), Query  for www.example.com of type A "
                             "on class Internet")


def test_arp_request_description_and_mac_columns() -> None:
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_A + a4("10.0.0.1") + bytes(6) + a4("10.0.0.2")
    f = frame_of(eth(0x0806, body, dst=b"\xff" * 6))
    assert f.description == "ARP:Request, 10.0.0.1 asks for 10.0.0.2"
    assert (f.source, f.destination) == ("00-11-22-33-44-55", "FF-FF-FF-FF-FF-FF")


def test_icmp_echo_description() -> None:
    f = frame_of(eth(0x0800, ipv4(1, icmp(8, 0, struct.pack("!HH", 1, 1)), src="10.0.0.1", dst="10.0.0.2")))
    assert f.description == "ICMP:Echo Request Message, From 10.0.0.1 To 10.0.0.2"
    assert (f.source, f.destination) == ("10.0.0.1", "10.0.0.2")


def test_icmp_error_keeps_its_name_and_outer_addresses() -> None:
    quoted = ipv4(17, udp(53, 40000, b""), src="10.0.0.2", dst="10.0.0.1")
    f = frame_of(eth(0x0800, ipv4(1, icmp(3, 3, bytes(4), quoted), src="10.0.0.1", dst="10.0.0.2")))
    assert f.protocol_name == "ICMP"
    assert f.description.startswith("ICMP:Destination Unreachable Message, Port Unreachable")
    assert (f.source, f.destination) == ("10.0.0.1", "10.0.0.2")
    assert f.values("IPv4.SourceAddress") == [0x0A000001, 0x0A000002]
    assert f.protocols[-1] == "UDP"


def test_payload_never_replaces_a_recognised_protocol() -> None:
    f = frame_of(eth(0x0800, ipv4(17, udp(40000, 40001, b"opaque data"))))
    assert f.protocols[-1] == "Payload" and f.protocol_name == "UDP"
    assert f.description.startswith("UDP:SrcPort = 40000, DstPort = 40001")


def test_later_fragments_are_fragment_payload() -> None:
    first = frame_of(eth(0x0800, ipv4(6, tcp(1, 2, 0x002), flags=1)))
    assert first.protocols == ["Ethernet", "IPv4", "TCP"]
    later = frame_of(eth(0x0800, ipv4(6, b"\x00" * 24, frag=185)))
    assert later.protocols == ["Ethernet", "IPv4", "Payload"]
    assert later.layers[-1].label == "Fragment"
    assert later.values("IPv4.FragmentOffset") == [185] and later.values("IPv4.NextProtocol") == [6]
    assert later.protocol_name == "IPv4" and "Fragment Offset = 1480" in later.description
    frag6 = bytes([6, 0]) + struct.pack("!HI", 100 << 3, 9)
    later6 = frame_of(eth(0x86DD, ipv6(44, frag6 + bytes(20))))
    assert later6.protocols == ["Ethernet", "IPv6", "Payload"] and later6.layers[-1].label == "Fragment"


def test_ipv6_extension_headers_are_nodes_of_the_ipv6_layer() -> None:
    hbh = bytes([17, 0]) + b"\x05\x02\x00\x00\x01\x00"
    f = frame_of(eth(0x86DD, ipv6(0, hbh + udp(1, 2, b""))))
    assert f.protocols == ["Ethernet", "IPv6", "UDP"]
    assert f.has("IPv6.HopByHopOptions") and f.values("IPv6.Option.Type") == [5, 1]
    assert f.layer("IPv6").length == 48


def test_flag_fields_have_bit_ranges() -> None:
    f = frame_of(eth(0x0800, ipv4(6, tcp(1, 2, 0x1C2))))
    syn = f.fields("TCP.Flags.Syn")[0]
    assert (syn.start, syn.length, syn.bits) == (14 + 20 + 13, 1, (6, 1))
    ns = f.fields("TCP.Flags.NS")[0]
    assert (ns.start, ns.bits, ns.value) == (14 + 20 + 12, (7, 1), 1)
    mf = f.fields("IPv4.Flags.MoreFragments")[0]
    assert (mf.start, mf.bits) == (14 + 6, (2, 1))


def test_protected_frames_with_a_clear_body_are_dissected() -> None:
    """Windows logs 802.11 frames after decryption with the Protected bit still set."""
    header = b"\x08\x41" + b"\x2c\x00" + MAC_A * 3 + b"\x10\x00"
    clear = header + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4(17, udp(1, 2, b"x"))
    f = frame_of(clear, 105)
    assert f.protocols == ["WiFi", "LLC", "SNAP", "IPv4", "UDP", "Payload"]
    assert f.values("WiFi.FrameControl.Protected") == [1]
    ccmp = header + bytes([0x01, 0x00, 0x00, 0x20, 0, 0, 0, 0]) + b"\x5a" * 40
    f = frame_of(ccmp, 105)
    assert f.protocols == ["WiFi", "Payload"] and f.layers[-1].label == "Encrypted"
