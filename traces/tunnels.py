"""How the index holds a tunnel frame (VXLAN, NVGRE, Geneve: Hyper-V network virtualization).

Netmon and Wireshark show a tunnel frame by its tenant: the innermost addresses are the
Source/Destination columns and the conversation, while a filter on any address (Netmon's
``IPv4.Address``, tshark's ``ip.addr``) matches the outer header as well as the tenant's.  The
index follows that with no new per-frame column:

* the frame's ``eth_conv`` / ``ip_conv`` / ``l4_conv`` are the **tenant's** conversations, and
  its ``DIR_ETH/IP/L4_REVERSED`` bits their directions;
* the tenant's IP conversation is interned with its virtual network (``network_key``: protocol
  and VNI/VSID) as ``parent``, so one tenant conversation gathers both directions whatever outer
  ports and hosts carry them, and tenants reusing 10.0.0.0/24 under different VNIs stay apart;
* the tenant's Ethernet conversation is interned with the frame's **tunnel entry** as
  ``parent`` (``trace.tunnel_conversations``: the network id and the **outer** Ethernet, IP and
  TCP/UDP conversations, whose directions are the ``DIR_OUTER_*`` bits).  A tenant frame without
  Ethernet (Geneve carrying IP) uses the outer MAC pair there.  ``parent`` is 0 outside tunnels.

So a frame's tunnel is ``eth_conversations.parent[eth_conv]``, and index filters answer both the
tenant's and the outer addresses, ports and the VNI without decoding.  The presence mask holds
every protocol of the frame (outer and inner).  A frame holding more headers than these two
levels (a tunnel in the tenant's frame, IP-in-IP on either side) carries the ``Nested`` or
``IPinIP`` flag and is decoded when the index cannot prove a match.  A tunnel frame the index
cannot see through (a short tenant frame, an ICMP error quoting a tunnel packet) keeps its outer
conversations, as any frame.

``packets.index_keys`` is the definition; ``fastclassify`` computes the same with arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocols import CODE

#: tunnel layer → the field holding its virtual network id
NETWORK_ID = {"VXLAN": "VXLAN.VNI", "NVGRE": "NVGRE.VirtualSubnetID", "Geneve": "Geneve.VNI"}
#: tunnel protocol code → its name (``tunnel_conversations.proto``)
NAMES = {CODE[name]: name for name in NETWORK_ID}


def outer_parts(b: int) -> tuple[int, int]:
    """A tunnel entry's ``b`` → (outer Ethernet conversation, outer TCP/UDP conversation)."""
    return b >> 32, b & 0xFFFFFFFF


def pack_outer(eth_conv: int, l4_conv: int) -> int:
    return (eth_conv << 32) | l4_conv


def intern(trace: Any, code: int, vni: int, eth_conv: int, ip_conv: int, l4_conv: int) -> int:
    """The id of the tunnel entry for these outer conversations and network id."""
    b = pack_outer(eth_conv, l4_conv)
    return trace.tunnel_conversations.intern((ip_conv, code, vni, b), vni, b, ip_conv, code)


def network_key(code: int, vni: int) -> int:
    """The ``parent`` of a tenant's IP conversation: the tunnel protocol and the network id."""
    return (code << 24) | vni


def network_of(key: int) -> tuple[int, int]:
    """``network_key``'s (protocol code, network id)."""
    return key >> 24, key & 0xFFFFFF


def frame_tunnels(trace: Any, eth_conv: np.ndarray) -> np.ndarray:
    """Per frame, the id of the tunnel whose tenant frame the index describes (0: none)."""
    return tunnels_of(np.asarray(trace.eth_conversations.parent, dtype=np.int64),
                      len(trace.tunnel_conversations) + 1, eth_conv)


def tunnels_of(eth_parent: np.ndarray, n_tunnels: int, eth_conv: np.ndarray) -> np.ndarray:
    """``frame_tunnels`` from the Ethernet table's ``parent`` column (a snapshot: ids beyond it,
    interned while a scan runs, are not known yet and give 0)."""
    if n_tunnels <= 1 or not len(eth_parent):
        return np.zeros(len(eth_conv), dtype=np.int64)
    eth = np.asarray(eth_conv, dtype=np.int64)
    tid = eth_parent[np.where(eth < len(eth_parent), eth, 0)]
    return np.where(tid < n_tunnels, tid, 0)


def label(code: int, vni: int) -> str:
    """``VXLAN VNI 5001`` / ``NVGRE VSID 6001`` / ``Geneve VNI 7001``."""
    name = NAMES.get(code, f"tunnel {code}")
    return f"{name} {'VSID' if name == 'NVGRE' else 'VNI'} {vni}"


def network_filter(code: int, vni: int) -> str:
    """The filter selecting a virtual network: ``VXLAN.VNI == 5001``."""
    return f"{NETWORK_ID[NAMES[code]]} == {vni}"
