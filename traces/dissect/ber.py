"""A bounded ASN.1 BER/DER reader shared by the Kerberos and LDAP dissectors.

Every length is checked against a limit the caller gives (the end of what the segment holds),
so a message cut by the segment is read as far as it goes and no length can make the reader
run or allocate past the bytes.  Only the definite length forms are read (DER, and the BER that
LDAP allows); single-byte tags only (neither protocol uses tag numbers above 30).
"""

from __future__ import annotations

#: elements read from one constructed value at most (bounds work on hostile counts)
MAX_ITEMS = 64


class Ber:
    """Bounded BER reading over ``d[:end]``."""

    __slots__ = ("d", "end")

    def __init__(self, d: bytes, end: int) -> None:
        self.d, self.end = d, end

    def header(self, pos: int, limit: int) -> tuple[int, int, int, bool] | None:
        """(tag, content start, content end clipped to ``limit``, cut) of the element at ``pos``."""
        d = self.d
        if pos + 2 > limit:
            return None
        tag, first = d[pos], d[pos + 1]
        at = pos + 2
        if first & 0x80:
            n = first & 0x7F
            if n == 0 or n > 4 or at + n > limit:
                return None
            length = int.from_bytes(d[at : at + n], "big")
            at += n
        else:
            length = first
        stop = at + length
        return tag, at, min(stop, limit), stop > limit

    def items(self, start: int, stop: int, limit: int = MAX_ITEMS) -> list[tuple[int, int, int, int]]:
        """(tag, element start, content start, content end) of the elements in ``start:stop`` (cut
        ones included): for fields whose byte range takes in the tag."""
        out: list[tuple[int, int, int, int]] = []
        pos = start
        while pos < stop and len(out) < limit:
            h = self.header(pos, stop)
            if h is None:
                break
            tag, a, b, _ = h
            out.append((tag, pos, a, b))
            pos = b
        return out

    def children(self, start: int, stop: int, limit: int = MAX_ITEMS) -> list[tuple[int, int, int]]:
        """(tag, content start, content end) of the elements in ``start:stop`` (cut ones included)."""
        return [(tag, a, b) for tag, _, a, b in self.items(start, stop, limit)]

    def inner(self, start: int, stop: int) -> tuple[int, int, int] | None:
        """The single element inside an explicit tag's content."""
        h = self.header(start, stop)
        return None if h is None else (h[0], h[1], h[2])

    def uint(self, start: int, stop: int) -> int | None:
        """The INTEGER inside an explicit tag's content (at most 8 bytes, read unsigned)."""
        h = self.inner(start, stop)
        if h is None or h[0] != 0x02 or not 0 < h[2] - h[1] <= 8:
            return None
        return int.from_bytes(self.d[h[1] : h[2]], "big")

    def number(self, start: int, stop: int) -> int | None:
        """The content ``start:stop`` of an INTEGER or ENUMERATED read unsigned (None when empty or over 8 bytes)."""
        if not 0 < stop - start <= 8:
            return None
        return int.from_bytes(self.d[start:stop], "big")
