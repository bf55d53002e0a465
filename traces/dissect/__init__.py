"""Packet dissectors.  Importing this package registers every dissector and its fields."""

from __future__ import annotations

from ..fields import REGISTRY, Registry
from .core import ETHER_TYPES, IP_PROTOCOLS, LINK_TYPES, TCP_PORTS, UDP_PORTS, Ctx, dissect_into

# Each module registers its protocols, fields and dispatch entries on import.
from . import ethernet  # noqa: E402,F401  (must come first: others dispatch through it)

__all__ = ["ETHER_TYPES", "IP_PROTOCOLS", "LINK_TYPES", "TCP_PORTS", "UDP_PORTS", "Ctx", "dissect"]


def dissect(data: bytes, link_type: int, registry: Registry = REGISTRY) -> Ctx:
    """Dissect one frame's bytes captured on ``link_type`` (a pcap LINKTYPE_* value)."""
    return dissect_into(Ctx(data, registry), link_type)
