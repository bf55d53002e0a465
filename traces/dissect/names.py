"""Number → name tables shared by several dissectors (IP protocol numbers, well-known ports).

Kept in one place so the IPv4 and IPv6 layers, the TCP/UDP summaries and the field enums show
the same names.
"""

from __future__ import annotations

#: IANA protocol numbers (IPv4 Protocol / IPv6 Next Header), as Netmon names the protocols
IP_PROTOCOL_NAMES: dict[int, str] = {
    0: "HOPOPT", 1: "ICMP", 2: "IGMP", 4: "IPv4", 6: "TCP", 8: "EGP", 9: "IGP", 17: "UDP", 27: "RDP",
    41: "IPv6", 43: "IPv6-Route", 44: "IPv6-Frag", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH",
    58: "ICMPv6", 59: "IPv6-NoNxt", 60: "IPv6-Opts", 88: "EIGRP", 89: "OSPF", 103: "PIM", 112: "VRRP",
    115: "L2TP", 132: "SCTP", 135: "Mobility", 136: "UDPLite", 137: "MPLS-in-IP",
}

#: ports shown by name in the TCP/UDP summaries (``DstPort=HTTP(80)``, Netmon's style)
PORT_NAMES: dict[int, str] = {
    20: "FTP Data", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 67: "BOOTP server",
    68: "BOOTP client", 69: "TFTP", 80: "HTTP", 88: "Kerberos", 110: "POP3", 123: "NTP", 135: "DCE endpoint resolution",
    137: "NETBIOS Name Service", 138: "NETBIOS Datagram Service", 139: "NETBIOS Session Service", 143: "IMAP",
    161: "SNMP", 162: "SNMP trap", 389: "LDAP", 443: "HTTPS", 445: "Microsoft-DS", 464: "Kerberos password",
    500: "ISAKMP", 514: "Syslog", 546: "DHCPv6 client", 547: "DHCPv6 server", 636: "LDAP over TLS",
    1433: "MS SQL Server", 1701: "L2TP", 1723: "PPTP", 1900: "SSDP", 3268: "Global Catalog", 3389: "MS WBT Server",
    4500: "IPsec NAT-T", 5353: "mDNS", 5355: "LLMNR", 5985: "WinRM", 8080: "HTTP alternate",
}


def ip_protocol_text(p: int) -> str:
    name = IP_PROTOCOL_NAMES.get(p)
    return name if name is not None else str(p)


def port_text(port: int) -> str:
    """``HTTP(80)`` for a named port, ``52342`` otherwise."""
    name = PORT_NAMES.get(port)
    return f"{name}({port})" if name is not None else str(port)
