"""The C MS-XCA decoder must be the Python decoder, only faster: same bytes, same rejections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_etl_xpress import BUFS
from tracemon.traces.etw import xpress
from tracemon.traces.etw.xpress import XpressError, compress, decompress_python

native = xpress._native
pytestmark = pytest.mark.skipif(native is None, reason="the C decoder was not built (no compiler)")


def _outcome(fn, src: bytes, size: int) -> bytes | str:
    try:
        return fn(src, size)
    except XpressError:
        return "error"
    except ValueError as e:  # the native decoder's raw form
        assert len(e.args) == 2 and isinstance(e.args[0], int)
        return "error"


def test_identical_on_every_sample_buffer() -> None:
    for name, off, src, size in BUFS:
        assert native(src, size) == decompress_python(src, size), (name, off)


def test_damage_becomes_xpress_error() -> None:
    with pytest.raises(XpressError) as info:
        xpress.decompress(b"\xff\xff\xff\xff\xf8\xff", 100)
    assert "before the start" in str(info.value)


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300), size=st.integers(0, 2000))
def test_random_input_same_outcome(data: bytes, size: int) -> None:
    assert _outcome(native, data, size) == _outcome(decompress_python, data, size)


@settings(max_examples=200, deadline=None)
@given(plain=st.binary(max_size=3000), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                       max_size=4), cut=st.integers(0, 50))
def test_mutated_streams_same_outcome(plain: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    packed = bytearray(compress(plain + plain[: len(plain) // 2]))
    for pos, value in flips:
        if packed:
            packed[pos % len(packed)] = value
    if cut < 10 and packed:
        packed = packed[: len(packed) * cut // 10]
    size = len(plain) + len(plain) // 2
    assert _outcome(native, bytes(packed), size) == _outcome(decompress_python, bytes(packed), size)


@pytest.mark.parametrize("use_native", [True, False])
def test_inflating_into_a_given_buffer(use_native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``decompress(src, size, out)``: the same bytes written into ``out`` (the scan inflates each
    buffer straight into its batch's blob), None returned, and an output of another size refused."""
    if not use_native:
        monkeypatch.setattr(xpress, "_native", None)
    for name, off, src, size in BUFS[:6]:
        out = bytearray(size + 10)
        assert xpress.decompress(src, size, memoryview(out)[5 : 5 + size]) is None
        assert bytes(out[5 : 5 + size]) == decompress_python(src, size) and out[:5] == out[-5:] == bytes(5), (name, off)
    with pytest.raises(ValueError, match="not 8"):
        xpress.decompress(compress(b"abcdefgh"), 8, memoryview(bytearray(7)))
    with pytest.raises(XpressError):  # damage still raises, whatever was written before it
        xpress.decompress(b"\xff\xff\xff\xff\xf8\xff", 100, memoryview(bytearray(100)))
