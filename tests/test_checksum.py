"""``checksum.py`` and ``_checksum.c``: the CRC-32C the index cache records for its files gives
the published values, the processor's instruction gives the table's, and files are checked as
their bytes are."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.traces import checksum

native = pytest.importorskip("tracemon.traces._checksum", reason="the C checksum (_checksum.c) was not built")

#: RFC 3720 (iSCSI), appendix B.4, and the usual check value of "123456789"
PUBLISHED = [(b"123456789", 0xE3069283), (bytes(32), 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43),
             (bytes(range(32)), 0x46DD794E), (bytes(range(31, -1, -1)), 0x113FDB5C), (b"", 0)]


@pytest.mark.parametrize(("data", "crc"), PUBLISHED)
def test_the_published_values(data: bytes, crc: int) -> None:
    assert native.crc32c(data) == native.crc32c_table(data) == crc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 7), st.integers(0, 2**32 - 1))
def test_the_instruction_gives_the_table_values(data: bytes, skip: int, value: int) -> None:
    """At every alignment and length, continuing from any value (``zlib.crc32``'s ``value``)."""
    view = memoryview(data)[skip:]
    assert native.crc32c(view, value) == native.crc32c_table(view, value)
    cut = len(view) // 3
    assert native.crc32c(view[cut:], native.crc32c(view[:cut])) == native.crc32c(view)


def test_large_data_without_the_lock_gives_the_same_value() -> None:
    data = bytes(range(256)) * 4096 + b"tail"  # past the size the lock is released for
    assert native.crc32c(data) == native.crc32c_table(data) == native.crc32c(data[5:], native.crc32c(data[:5]))


@pytest.mark.parametrize("algorithm", ["crc32c", "crc32"])
def test_a_file_is_checked_as_its_bytes(tmp_path: Path, algorithm: str) -> None:
    fn = native.crc32c if algorithm == "crc32c" else zlib.crc32
    for size in (0, 1, 4095, 70_001):
        path = tmp_path / f"f{size}"
        data = bytes((k * 7) & 0xFF for k in range(size))
        path.write_bytes(data)
        assert checksum.file_checksum(path, algorithm) == fn(data)
    assert checksum.ALGORITHM == "crc32c"


def test_an_algorithm_this_build_cannot_compute_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="cannot compute"):
        checksum.file_checksum(path, "sha3-crc")
