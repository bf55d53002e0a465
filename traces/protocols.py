"""Packet protocols known to the index: presence bits and Protocol Name codes.

The index keeps, per frame, a 64-bit mask of the protocols present (``BIT``) and the code of the
top protocol (the Protocol Name column).  Codes below ``len(PACKET_PROTOCOL_NAMES)`` are these
packet protocols; a trace appends ETW provider protocol names after them.

Names are Netmon's protocol names and must equal the dissectors' layer names.
"""

from __future__ import annotations

PACKET_PROTOCOL_NAMES: tuple[str, ...] = (
    "",  # 0: unknown / nothing recognised
    "Ethernet",
    "VLAN",
    "LLC",
    "SNAP",
    "ARP",
    "IPv4",
    "IPv6",
    "ICMP",
    "ICMPv6",
    "IGMP",
    "TCP",
    "UDP",
    "DNS",
    "DHCP",
    "WiFi",
    "Radiotap",
    "SLL",
    "Loopback",
    "MPLS",
    "Payload",
    "NetEvent",
    "GRE",
    "Prism",
    "AVS",
    # above TCP and UDP (dissect/http.py, tls.py, nbns.py, smb.py, dns.py, kerberos.py, ldap.py)
    "HTTP",
    "TLS",
    "NbtSS",
    "SMB",
    "SMB2",
    "NBTNS",
    "LLMNR",
    "KerberosV5",
    "VXLAN",
    "NVGRE",
    "NTLMSSP",
    "LDAP",
    "MSRPC",  # dissect/dcerpc.py
    # link level and IPsec (dissect/eapol.py, lldp.py, ipsec.py)
    "EAPOL",
    "EAP",
    "LLDP",
    "ESP",
    "AH",
    "IKE",
    "Geneve",  # dissect/geneve.py
    # name and address services, RDP's connection setup, GSS-API tokens (branch apps2)
    "NTP",  # dissect/ntp.py
    "DHCPv6",  # dissect/dhcpv6.py
    "SSDP",  # dissect/ssdp.py
    "TPKT",  # dissect/rdp.py
    "X224",
    "RDPBCGR",
    "GSSAPI",  # dissect/spnego.py
)

CODE: dict[str, int] = {name: code for code, name in enumerate(PACKET_PROTOCOL_NAMES)}
#: presence bit of each packet protocol (bit = code - 1; code 0 has none); at most 64
BIT: dict[str, int] = {name: code - 1 for code, name in enumerate(PACKET_PROTOCOL_NAMES) if code}
assert len(BIT) <= 64
MASK: dict[str, int] = {name: 1 << bit for name, bit in BIT.items()}


#: presence bits that are not layers (not protocol names a filter can use): "IPinIP" is set when
#: a frame holds more than one IP header (IP-in-IP, 6in4, ICMP errors), so filters know the
#: index's outer addresses are not the only ones; it takes the top bit, clear of the protocols
#: "Nested" is set on a tunnel frame that holds more Ethernet/TCP/UDP headers than its tenant's
#: and its outer ones (``tunnels.py``); on tunnel frames "IPinIP" counts each side's IP headers
FLAGS: dict[str, int] = {"IPinIP": 1 << 63, "Nested": 1 << 62}
assert max(MASK.values()) < min(FLAGS.values())
