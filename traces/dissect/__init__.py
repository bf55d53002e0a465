"""Packet dissectors.  Importing this package registers every dissector and its fields."""

from __future__ import annotations

from ..fields import REGISTRY, Registry

# Each module registers its protocols, fields and dispatch entries on import (the tables are
# read at dissection time, so the order of these imports does not matter).
from . import (  # noqa: F401
    arp,
    avs,
    dcerpc,
    dhcp,
    dhcpv6,
    dns,
    eapol,
    ethernet,
    geneve,
    gre,
    http,
    icmp,
    icmpv6,
    igmp,
    ipsec,
    ipv4,
    ipv6,
    kerberos,
    ldap,
    link,
    lldp,
    mpls,
    nbns,
    ntlmssp,
    ntp,
    prism,
    radiotap,
    rdp,
    smb,
    smb2,
    spnego,
    ssdp,
    tcp,
    tls,
    udp,
    vxlan,
    wifi,
)
from .core import (
    ETHER_TYPES,
    IP_PROTOCOLS,
    LINK_TYPES,
    TCP_PORTS,
    UDP_PORTS,
    Ctx,
    History,
    dissect_into,
    payload,
)

__all__ = ["ETHER_TYPES", "IP_PROTOCOLS", "LINK_TYPES", "TCP_PORTS", "UDP_PORTS", "Ctx", "dissect"]


def dissect(data: bytes, link_type: int, registry: Registry = REGISTRY, history: History | None = None,
            row: int = -1) -> Ctx:
    """Dissect one frame's bytes captured on ``link_type`` (a pcap LINKTYPE_* value).

    Dissectors are written never to raise (the fuzz tests hold them to it, calling
    ``dissect_into`` directly); this last guard keeps one unforeseen bug from taking a whole
    trace view down: the frame keeps what was decoded and says where decoding stopped.
    """
    ctx = Ctx(data, registry, history=history, row=row)
    try:
        return dissect_into(ctx, link_type)
    except Exception as e:  # noqa: BLE001 - see the docstring
        ctx.depth = 0
        ctx.description = f"{ctx.description} [dissector error: {type(e).__name__}: {e}]"
        done = max((layer.start + layer.length for layer in ctx.layers), default=0)
        payload(ctx, min(done, len(data)), len(data))
        return ctx
