"""``_scan.dns_questions`` (the DNS question-name scan in C) against ``dnscols._pass_numpy``, its
reference: the same state, name code and table for every frame, over DNS frames made to reach
each rule and its near misses (VLAN tags, IPv6, fragments, other protocols, several questions,
compression pointers, names across the window or longer than 255 bytes, lengths that cut the
question, frames that run to the end of the buffer)."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.traces import dnscols

pytestmark = pytest.mark.skipif(dnscols._native_questions is None, reason="the C extension was not built")


def _pick(rng: random.Random, good: object, *near_misses: object) -> object:
    """``good`` mostly (so that frames get through every rule), else one of the near misses."""
    return good if rng.random() < 0.88 or not near_misses else rng.choice(near_misses)


def _name(rng: random.Random) -> bytes:
    if rng.random() < 0.1:  # about 255 bytes: the longest name the dissector takes, and just past it
        labels = [rng.randbytes(63) for _ in range(3)] + [rng.randbytes(rng.choice([58, 59, 60, 61, 62, 63]))]
    else:
        labels = [rng.randbytes(rng.choice([1, 3, 7, 20, 63])) for _ in range(rng.choice([0, 1, 2, 3, 5, 12]))]
    wire = b"".join(bytes([len(lab)]) + lab for lab in labels)
    return wire + _pick(rng, b"\x00", b"\xc0\x0c", b"\x80", b"\x40")  # a pointer, reserved label types


def _frame(rng: random.Random) -> tuple[bytes, int]:
    """A frame and its captured length (which may cut it)."""
    question = _name(rng) + _pick(rng, b"\x00\x01\x00\x01", b"\x00\x01", b"")
    dns = struct.pack(">HHHHHH", rng.randrange(65536), rng.choice([0x0100, 0x8180]), _pick(rng, 1, 0, 2), 0, 0, 0)
    dns += question
    udp_len = _pick(rng, 8 + len(dns), 8 + len(dns) - 3, 4, 8 + len(dns) + 20)
    udp = struct.pack(">HHHH", rng.choice([53, 5353, 50000]), 53, udp_len & 0xFFFF, 0) + dns
    proto = _pick(rng, 17, 6)
    if rng.random() < 0.7:
        ihl = _pick(rng, 5, 6, 4, 15)
        total = _pick(rng, 4 * ihl + len(udp), 4 * ihl + len(udp) - 5, 10)
        ip = struct.pack(">BBHHHBBH4s4s", _pick(rng, 4, 6) << 4 | ihl, 0, total & 0xFFFF, 1, _pick(rng, 0, 0x2000, 1),
                         64, proto, 0, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        ip += bytes(max(0, 4 * ihl - 20)) + udp
        etype = 0x0800
    else:
        ip = struct.pack(">IHBB", _pick(rng, 6, 4) << 28, _pick(rng, len(udp), len(udp) - 4), proto, 64)
        ip += rng.randbytes(32) + udp
        etype = 0x86DD
    if rng.random() < 0.2:
        link = rng.randbytes(12) + struct.pack(">HH", 0x8100, 7) + struct.pack(">H", etype)
    else:
        link = rng.randbytes(12) + struct.pack(">H", _pick(rng, etype, 0x0806))
    frame = link + ip
    return frame, _pick(rng, len(frame), len(frame) - 6, 40)


def _same(frames: list[tuple[bytes, int]], window: int, tail: bytes, rng: random.Random) -> None:
    buf = b"".join(f for f, _ in frames) + tail
    file = np.frombuffer(buf, dtype=np.uint8)
    base = np.cumsum([0] + [len(f) for f, _ in frames[:-1]]).astype(np.int64)
    cap = np.array([c for _, c in frames], dtype=np.int64)
    ok = np.array([rng.random() < 0.9 for _ in frames], dtype=bool)
    got = dnscols._pass(file, base, cap, ok.copy(), window)
    want = dnscols._pass_numpy(file, base, cap, ok.copy(), window)
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1].tolist()
    assert got[2] == want[2]


@settings(max_examples=150, deadline=None)
@given(rng=st.randoms(use_true_random=False), n=st.integers(1, 50),
       window=st.sampled_from([dnscols.FIRST_WINDOW, dnscols.WINDOW, 40]), tail=st.sampled_from([b"", bytes(200)]))
def test_the_c_question_scan_is_the_numpy_scan(rng: random.Random, n: int, window: int, tail: bytes) -> None:
    _same([_frame(rng) for _ in range(n)], window, tail, rng)


def test_the_frames_reach_every_outcome() -> None:
    rng = random.Random(5)
    frames = [_frame(rng) for _ in range(1500)]
    buf = np.frombuffer(b"".join(f for f, _ in frames), dtype=np.uint8)
    base = np.cumsum([0] + [len(f) for f, _ in frames[:-1]]).astype(np.int64)
    state, _codes, table = dnscols._pass(buf, base, np.array([c for _, c in frames]), np.ones(len(frames), bool),
                                         dnscols.FIRST_WINDOW)
    assert {dnscols._NAME, dnscols._DECODE, dnscols._RETRY} <= set(state.tolist())
    assert len(table) > 50


def test_the_c_question_scan_refuses_bad_arguments() -> None:
    buf = np.zeros(100, dtype=np.uint8)
    two, one = np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.int64)
    with pytest.raises(ValueError):
        dnscols._native_questions(buf, two, one, np.ones(2, np.uint8), 128, 128)
    with pytest.raises(ValueError):
        dnscols._native_questions(buf, two, two, np.ones(2, np.uint8), 1, 128)
