"""Fast display text for the hot dissectors (Ethernet, IP, TCP, UDP).

A typical frame has some fifty fields and each gets its display text when it is created, so
these run millions of times while a filter decodes frames.  They format straight from the
frame's bytes in C (``bytes.hex``, ``inet_ntop``) and give the same text as ``frame.mac_text`` /
``ipv4_text``; IPv6 text follows RFC 5952 as ``inet_ntop`` does.
"""

from __future__ import annotations

# The C module itself: ``socket.py`` around it builds enums of every constant at import, a
# hundredth of a cold ``tracemon count``, for the two functions used here.
import _socket
from typing import Any

from ..fields import FieldDef
from ..frame import Field

__all__ = ["Field", "ip4_text", "ip6_text", "mac_text", "new"]

ip4_text = _socket.inet_ntoa
_ntop = _socket.inet_ntop
_AF_INET6 = _socket.AF_INET6


def ip6_text(b: bytes) -> str:
    return _ntop(_AF_INET6, b)


def mac_text(b: bytes) -> str:
    """``00-11-22-33-44-55`` (Netmon's style) from six bytes."""
    return b.hex("-").upper()


def new(fdef: FieldDef, value: Any, display: str, start: int, length: int,
        bits: tuple[int, int] | None = None) -> Field:
    """A field with its display text given (cheaper than ``Layer.add``'s generic formatting)."""
    return Field(fdef, value, display, start, length, "", [], bits)
