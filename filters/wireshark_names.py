"""Wireshark display-filter names people type from habit, and the Netmon names that mean the same.

tracemon speaks Netmon's filter language; a Wireshark name is not silently accepted (two
languages in one bar would make every name ambiguous), but it earns a precise "did you mean"
instead of a fuzzy guess.  The table holds the names the filter corpus and the Wireshark
column of ``reference/filter_corpus.tsv`` use most; a target is offered only when the running
registry (or the pseudo-fields) really has it, so protocols not dissected yet are never named.
"""

from __future__ import annotations

#: Wireshark field (lower case) → Netmon field or property
WIRESHARK_TO_NETMON: dict[str, str] = {
    "eth": "Ethernet", "eth.addr": "Ethernet.Address", "eth.src": "Ethernet.SourceAddress",
    "eth.dst": "Ethernet.DestinationAddress", "eth.type": "Ethernet.EtherType",
    "vlan.id": "VLAN.VlanId", "vlan.priority": "VLAN.Priority",
    "arp.opcode": "ARP.Operation", "arp.src.proto_ipv4": "ARP.SenderIPAddress",
    "arp.dst.proto_ipv4": "ARP.TargetIPAddress", "arp.src.hw_mac": "ARP.SenderMacAddress",
    "arp.dst.hw_mac": "ARP.TargetMacAddress",
    "ip": "IPv4", "ip.addr": "IPv4.Address", "ip.src": "IPv4.SourceAddress", "ip.dst": "IPv4.DestinationAddress",
    "ip.ttl": "IPv4.TimeToLive", "ip.proto": "IPv4.NextProtocol", "ip.len": "IPv4.TotalLength",
    "ip.id": "IPv4.Identification", "ip.flags.df": "IPv4.Flags.DontFragment",
    "ip.flags.mf": "IPv4.Flags.MoreFragments", "ip.frag_offset": "IPv4.FragmentOffset",
    "ip.dsfield.dscp": "IPv4.DifferentiatedServices.DSCP", "ip.checksum": "IPv4.Checksum",
    "ipv6.addr": "IPv6.Address", "ipv6.src": "IPv6.SourceAddress", "ipv6.dst": "IPv6.DestinationAddress",
    "ipv6.hlim": "IPv6.HopLimit", "ipv6.nxt": "IPv6.NextProtocol", "ipv6.plen": "IPv6.PayloadLength",
    "ipv6.flow": "IPv6.FlowLabel",
    "icmp.type": "ICMP.Type", "icmp.code": "ICMP.Code", "icmpv6.type": "ICMPv6.Type", "icmpv6.code": "ICMPv6.Code",
    "tcp.port": "TCP.Port", "tcp.srcport": "TCP.SrcPort", "tcp.dstport": "TCP.DstPort",
    "tcp.seq": "TCP.SequenceNumber", "tcp.seq_raw": "TCP.SequenceNumber", "tcp.ack": "TCP.AcknowledgementNumber",
    "tcp.ack_raw": "TCP.AcknowledgementNumber", "tcp.window_size_value": "TCP.Window",
    "tcp.window_size": "TCP.Window", "tcp.len": "TCP.PayloadLength", "tcp.flags": "TCP.Flags",
    "tcp.flags.syn": "TCP.Flags.Syn", "tcp.flags.ack": "TCP.Flags.Ack", "tcp.flags.fin": "TCP.Flags.Fin",
    "tcp.flags.reset": "TCP.Flags.Rst", "tcp.flags.push": "TCP.Flags.Psh", "tcp.flags.urg": "TCP.Flags.Urg",
    "tcp.analysis.retransmission": "Property.TCPRetransmit",
    "udp.port": "UDP.Port", "udp.srcport": "UDP.SrcPort", "udp.dstport": "UDP.DstPort", "udp.length": "UDP.TotalLength",
    "dns.qry.name": "DNS.QRecord.QuestionName", "dns.qry.type": "DNS.QRecord.QuestionType",
    "dns.id": "DNS.QueryIdentifier", "dns.flags.response": "DNS.Flags.Response",
    "dns.flags.rcode": "DNS.Flags.ResponseCode", "dns.a": "DNS.ARecord.IPAddress",
    "dns.aaaa": "DNS.ARecord.IPv6Address", "dns.cname": "DNS.ARecord.CName", "dns.resp.name": "DNS.ARecord.Name",
    "dhcp": "DHCP", "bootp": "DHCP", "dhcp.option.hostname": "DHCP.HostName",
    "dhcp.option.dhcp": "DHCP.MessageType", "dhcp.hw.mac_addr": "DHCP.ClientHardwareAddress",
    "frame.number": "Frame.FrameNumber", "frame.len": "Frame.FrameLength", "frame.cap_len": "Frame.CapturedFrameLength",
    "frame.comment": "Frame.Comment", "frame.time_delta": "FrameVariable.TimeDelta",
    "frame.time_relative": "FrameVariable.TimeOffset", "frame.time": "Frame.TimeStamp",
    "frame.interface_id": "Frame.Interface",
    "http.host": "HTTP.Host", "http.request.method": "HTTP.Request.Method", "http.request.uri": "HTTP.Request.URI",
    "http.response.code": "HTTP.Response.StatusCode", "http.request": "HTTP.Request", "http.response": "HTTP.Response",
    "tls.handshake.extensions_server_name": "TLS.ClientHello.ServerName", "smb2.cmd": "SMB2.Command", "smb2.nt_status": "SMB2.Status",
    "smb2.filename": "SMB2.FileName", "kerberos.error_code": "KerberosV5.Message.ErrorCode",
    "ntlmssp": "NTLMSSP", "nbns": "NBTNS", "dcerpc": "MSRPCE", "kerberos": "KerberosV5",
    "ldap": "LDAP", "cldap": "LDAP", "ldap.messageid": "LDAP.MessageID", "ldap.protocolop": "LDAP.ProtocolOp",
    "ldap.resultcode": "LDAP.ResultCode", "ldap.baseobject": "LDAP.BaseObject",
    "eapol": "EAPOL", "eapol.type": "EAPOL.Type", "eap": "EAP", "eap.code": "EAP.Code", "eap.type": "EAP.Type",
    "eap.identity": "EAP.Identity", "wlan_rsna_eapol.keydes.msgnr": "EAPOL.Key.Message",
    "lldp": "LLDP", "lldp.tlv.system.name": "LLDP.SystemName", "lldp.port.id": "LLDP.PortId",
    "esp": "ESP", "esp.spi": "ESP.SPI", "esp.sequence": "ESP.SequenceNumber", "ah": "AH", "ah.spi": "AH.SPI",
    "isakmp": "IKE", "isakmp.exchangetype": "IKE.ExchangeType",
    "ntp": "NTP", "ntp.stratum": "NTP.Stratum", "ntp.flags.mode": "NTP.Mode", "ntp.flags.li": "NTP.LeapIndicator",
    "ntp.refid": "NTP.ReferenceIdentifier", "dhcpv6": "DHCPv6", "dhcpv6.msgtype": "DHCPv6.MessageType",
    "dhcpv6.xid": "DHCPv6.TransactionID", "dhcpv6.status_code": "DHCPv6.StatusCode", "dhcpv6.iaaddr.ip": "DHCPv6.IAAddress",
    "ssdp": "SSDP", "tpkt": "TPKT", "cotp": "X224", "rdp": "RDPBCGR", "rdp.rt_cookie": "RDPBCGR.Cookie",
    "rdp.negreq.requestedprotocols": "RDPBCGR.RequestedProtocols", "rdp.negreq.selectedprotocol": "RDPBCGR.SelectedProtocol",
    "rdp.negfailure.failurecode": "RDPBCGR.FailureCode", "spnego": "GSSAPI", "gss-api": "GSSAPI",
    "spnego.negresult": "GSSAPI.NegState", "spnego.supportedmech": "GSSAPI.SupportedMech",
}


def netmon_name_for(name: str, exists: object) -> str | None:
    """The Netmon name for Wireshark's ``name`` when ``exists(netmon_name)`` says the filter
    language knows it (a dissector or pseudo-field defines it), else None."""
    target = WIRESHARK_TO_NETMON.get(name.lower())
    if target is None or not callable(exists) or not exists(target):
        return None
    return target
