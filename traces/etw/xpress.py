"""MS-XCA "plain LZ77" (LZXpress) — the compression of ETW buffers.

Windows 8+ writes relogged and merged traces (``netsh trace stop``, ``pktmon``) with every buffer
but the first compressed on its own ([MS-XCA] §2.3/§2.4; ETW.md §1.1).  ``decompress`` inflates
one buffer with our own decoder: the C extension ``_xpress.c`` (built at install time when a
compiler is there; it releases the GIL) or, without it, the pure-Python ``decompress_python``.
Both make the same accept/reject decisions (``tests/test_xpress_native.py``); the Python one is
the fallback and the reference the C one is tested against.  It copies literal runs as one slice,
so its loop turns once per *match*, not once per byte.

Measured against ``xpress-lz77`` (a compiled PyPI decoder, GPL-3.0) and dissect.util's
``lzxpress`` (AGPL-3.0) on every compressed sample buffer: byte-identical output
(``tests/test_etl_xpress.py``).  Neither licence fits an MIT tool, so they are test oracles only;
``benchmarks/bench_etl.py`` prints the speeds of all four decoders.

``compress`` is a small greedy compressor for the test writer and the demo trace: a hash of the
next 3 bytes finds the last position with the same bytes inside the 8 KiB window.
"""

from __future__ import annotations

import struct

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

#: match offsets are 13 bits + 1
WINDOW = 8192
MIN_MATCH = 3
#: the largest output either decoder inflates to (the C decoder's limit; an ETW buffer is far smaller)
MAX_OUT = 1 << 31


class XpressError(ValueError):
    """Compressed data that does not inflate (offset before the start, bad length, short input)."""

    def __init__(self, position: int, cause: str) -> None:
        self.position = position
        self.cause = cause
        super().__init__(f"compressed byte {position}: {cause}")


_MASKS = tuple((1 << c) - 1 for c in range(33))


try:  # the same decoder in C (``_xpress.c``): what ``decompress`` uses when it was built
    from ._xpress import decompress as _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None


def decompress(src: bytes | bytearray | memoryview, out_size: int, out: memoryview | None = None) -> bytes | None:
    """Inflate ``src`` to exactly ``out_size`` bytes, or raise ``XpressError``; into ``out`` (a
    writable buffer of that size) when it is given, and then None.

    Output never grows past ``out_size`` plus one flag word of short matches, whatever the
    input says (a 4 GiB match length is refused before anything is copied).  After an error
    ``out`` holds what was inflated before it.
    """
    _check_size(out_size)
    if _native is not None:
        try:
            return _native(src, out_size, out)
        except ValueError as e:
            if len(e.args) == 2 and isinstance(e.args[0], int):
                raise XpressError(e.args[0], str(e.args[1])) from None
            raise
    data = decompress_python(src, out_size)
    if out is None:
        return data
    if len(out) != out_size:
        raise ValueError(f"the output holds {len(out)} bytes, not {out_size}")
    out[:] = data
    return None


def decompress_python(src: bytes | bytearray | memoryview, out_size: int) -> bytes:
    """The pure-Python decoder (the fallback, and the reference the C decoder is tested against)."""
    _check_size(out_size)
    try:
        return _decompress(bytes(src), out_size)
    except IndexError:  # a length byte or nibble past the end of the input
        raise XpressError(len(src), "truncated match length") from None


def _check_size(out_size: int) -> None:
    """Both decoders refuse the same sizes (a damaged FilledBytes can make ``out_size`` negative)."""
    if not 0 <= out_size <= MAX_OUT:
        raise XpressError(0, f"output size {out_size} is out of range")


def _decompress(src: bytes, out_size: int) -> bytes:
    n = len(src)
    out = bytearray()
    pos = 0
    half = -1  # input position of the half-used length nibble, -1 when none
    u16 = _U16.unpack_from
    u32 = _U32.unpack_from
    masks = _MASKS
    while len(out) < out_size:
        if pos + 4 > n:
            raise XpressError(pos, f"input ends after {len(out)} of {out_size} bytes")
        flags = u32(src, pos)[0]
        pos += 4
        c = 32
        while c:
            x = flags & masks[c]
            if not x:  # the remaining c items are literals
                out += src[pos : pos + c]
                pos += c
                break
            nb = x.bit_length() - 1
            if nb != c - 1:
                lit = c - 1 - nb
                out += src[pos : pos + lit]
                pos += lit
            c = nb
            if pos + 2 > n:
                if pos >= n and len(out) == out_size:  # a match flag with no input left: the end
                    return bytes(out)
                raise XpressError(pos, f"stream ends after {len(out)} of {out_size} bytes")
            mb = u16(src, pos)[0]
            pos += 2
            length = mb & 7
            offset = (mb >> 3) + 1
            start = len(out) - offset
            if length != 7:
                length += 3
                if offset >= length and start >= 0:  # the common case: a short, non-overlapping copy
                    out += out[start : start + length]
                    continue
            else:
                if half < 0:
                    length = src[pos] & 15
                    half = pos
                    pos += 1
                else:
                    length = src[half] >> 4
                    half = -1
                if length == 15:
                    length = src[pos]
                    pos += 1
                    if length == 255:
                        if pos + 2 > n:
                            raise XpressError(pos, "truncated match length")
                        length = u16(src, pos)[0]
                        pos += 2
                        if length == 0:
                            if pos + 4 > n:
                                raise XpressError(pos, "truncated match length")
                            length = u32(src, pos)[0]
                            pos += 4
                        if length < 22:
                            raise XpressError(pos, f"match length {length} below 22")
                        length -= 22
                    length += 15
                length += 10
            if start < 0:
                raise XpressError(pos, f"match offset {offset} before the start of the output ({len(out)} bytes)")
            if len(out) + length > out_size:
                raise XpressError(pos, f"match of {length} bytes overruns the {out_size}-byte output")
            if offset >= length:
                out += out[start : start + length]
            else:  # overlapping copy: the last ``offset`` bytes repeat
                reps, rest = divmod(length, offset)
                pattern = out[start:]
                out += pattern * reps + pattern[:rest]
        if pos > n and len(out) < out_size:
            raise XpressError(n, f"input ends inside a literal run after {len(out)} of {out_size} bytes")
    # a decoder with an ``out_size`` buffer stops when it is full (trailing literals are dropped)
    return bytes(out[:out_size])


def compress(data: bytes | bytearray | memoryview) -> bytes:
    """Greedy MS-XCA plain LZ77 compression (decodes with ``decompress`` and with Windows)."""
    data = bytes(data)
    n = len(data)
    out = bytearray()
    flags = 0
    nflags = 0
    flag_pos = 0
    out += b"\0\0\0\0"
    half = -1  # output position of a length byte whose high nibble is still free
    table: dict[bytes, int] = {}
    i = 0

    def put_flag(bit: int) -> None:
        nonlocal flags, nflags, flag_pos
        if nflags == 32:
            _U32.pack_into(out, flag_pos, flags)
            flag_pos = len(out)
            out.extend(b"\0\0\0\0")
            flags = 0
            nflags = 0
        flags = (flags << 1) | bit
        nflags += 1

    while i < n:
        best_len = 0
        best_off = 0
        if i + MIN_MATCH <= n:
            key = data[i : i + MIN_MATCH]
            cand = table.get(key)
            table[key] = i
            if cand is not None and i - cand <= WINDOW:
                limit = n - i
                length = MIN_MATCH
                # extend the match; compare in chunks first, then byte by byte
                while length + 16 <= limit and data[cand + length : cand + length + 16] == data[i + length : i + length + 16]:
                    length += 16
                while length < limit and data[cand + length] == data[i + length]:
                    length += 1
                best_len = length
                best_off = i - cand
        if best_len < MIN_MATCH:
            put_flag(0)
            out.append(data[i])
            i += 1
            continue
        put_flag(1)
        code = best_len - 3
        if code < 7:
            out += _U16.pack(((best_off - 1) << 3) | code)
        else:
            out += _U16.pack(((best_off - 1) << 3) | 7)
            code -= 7
            nib = min(code, 15)
            if half < 0:
                half = len(out)
                out.append(nib)
            else:
                out[half] |= nib << 4
                half = -1
            if code >= 15:
                code -= 15
                if code < 255:
                    out.append(code)
                else:
                    out.append(255)
                    total = code + 15 + 7
                    if total <= 0xFFFF:
                        out += _U16.pack(total)
                    else:
                        out += _U16.pack(0)
                        out += _U32.pack(total)
        # index a few positions inside the match so later data finds them
        end = i + best_len
        j = i + 1
        stop = min(end, n - MIN_MATCH + 1)
        step = 1 if best_len < 32 else 4
        while j < stop:
            table[data[j : j + MIN_MATCH]] = j
            j += step
        i = end
    # the unused flag bits are ones: the decoder sees a match with no input and stops (a full
    # last word gets one more word, so that at least one such bit follows the data)
    put_flag(1)
    while nflags < 32:
        put_flag(1)
    _U32.pack_into(out, flag_pos, flags)
    return bytes(out)
