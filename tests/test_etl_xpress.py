"""Our MS-XCA decoder against two independent ones, on every compressed buffer of the samples."""

from __future__ import annotations

import struct

import pytest
from conftest import samples
from test_etl_damage import buffer_chain
from tracemon.traces.etw.xpress import XpressError, compress, decompress, decompress_python


def _compressed_buffers() -> list[tuple[str, int, bytes, int]]:
    out = []
    for path in samples("etl", ".etl"):
        data = path.read_bytes()
        for off, size, filled, flags in buffer_chain(data):
            if flags & 0x40:
                out.append((path.name, off, data[off + 0x48 : off + min(size, filled)], filled - 0x48))
    return out


BUFS = _compressed_buffers()


def test_samples_have_compressed_buffers() -> None:
    assert len(BUFS) > 300


def test_matches_xpress_lz77() -> None:
    ref = pytest.importorskip("xpress_lz77")
    for name, off, src, size in BUFS:
        assert decompress(src, size) == bytes(ref.lz77_plain_decompress_py(src)), (name, off)


def test_matches_dissect_util() -> None:
    lz = pytest.importorskip("dissect.util.compression.lzxpress")
    for name, off, src, size in BUFS[::10]:  # the pure-Python oracle is slow: every 10th buffer
        assert decompress(src, size) == lz.decompress(src), (name, off)


def test_windows_compressed_data_round_trips_through_our_compressor() -> None:
    for _name, _off, src, size in BUFS[:20]:
        plain = decompress(src, size)
        assert decompress(compress(plain), size) == plain


@pytest.mark.parametrize("bad", [
    b"",  # nothing at all
    struct.pack("<I", 0),  # 32 literals announced, none there
    struct.pack("<IH", 0x7FFFFFFF, 0x0000) + b"A",  # literal, then a match 1 byte back … fine, then ends early
    struct.pack("<IH", 0xFFFFFFFF, 0xFFF8),  # a match 8 KiB before the start
    struct.pack("<I", 0x7FFFFFFF) + b"A" + struct.pack("<HBBHI", 7, 15, 255, 0, 0xFFFFFFF0),  # a 4 GiB match
])
def test_corrupt_input_raises_and_never_allocates_without_bound(bad: bytes) -> None:
    with pytest.raises(XpressError):
        decompress(bad, 4096)


@pytest.mark.parametrize("size", [-1, -56, (1 << 31) + 1])
def test_output_size_out_of_range_is_refused_by_both_decoders(size: int) -> None:
    # a compressed buffer whose FilledBytes is below the 0x48-byte header asks for a negative size
    for fn in (decompress, decompress_python):
        with pytest.raises(XpressError, match="out of range"):
            fn(compress(b"abc" * 10), size)
