"""The C loops of ``_scan.c``, ``_walk.c`` and ``_keys.c`` must be the Python and NumPy code they
replace, only faster: the same record offsets and damage report for any pcap or pcapng, the same
rows for the word search and the row copies, the same layer walk, the same key ids; and an index
built with all of them off is the same index."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.traces import fastapps, fastwalk, gather, keytable, open_trace, pcap, pcapng
from tracemon.traces.index import ConversationTable

pytestmark = pytest.mark.skipif(pcap._native_records is None or fastapps._native_find_words is None
                                or fastwalk._native_walk is None or keytable._native_claim is None,
                                reason="the C loops were not built (no compiler)")


def _record(caplen: int, data: bytes, endian: str) -> bytes:
    return struct.pack(endian + "IIII", 1, 0, caplen, max(caplen, len(data))) + data


@st.composite
def pcaps(draw: st.DrawFn) -> bytes:
    endian = draw(st.sampled_from(["<", ">"]))
    out = struct.pack(endian + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["good", "good", "good", "zero", "zero-orig", "huge", "long"]))
        body = draw(st.binary(min_size=1, max_size=80))
        if kind == "good":
            out += _record(len(body), body, endian)
        elif kind == "zero":  # a zero-length packet whose original length is not zero: fine
            out += struct.pack(endian + "IIII", 1, 0, 0, 60)
        elif kind == "zero-orig":
            out += struct.pack(endian + "IIII", 1, 0, 0, 0)
        elif kind == "huge":
            out += struct.pack(endian + "IIII", 1, 0, 0xFFFFFFF0, 60) + body
        else:  # announces more than the file holds
            out += _record(len(body) + 500, body, endian)
    return out[: max(24, len(out) - draw(st.integers(0, 20)))]  # (a cut file header is refused earlier)


def _scan(path: Path) -> tuple[list[int], list[tuple[int, str]]]:
    trace = open_trace(path, use_cache=False)
    return trace.index.loc.tolist(), [(w.offset, w.cause) for w in trace.warnings]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=pcaps())
def test_record_walk_is_the_python_walk(data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "walk.pcap"
    path.write_bytes(data)
    native = _scan(path)
    with monkeypatch.context() as m:
        m.setattr(pcap, "_native_records", None)
        assert _scan(path) == native


def test_record_walk_over_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More records than a batch holds, a zero-length packet in the middle of a run."""
    body = _record(60, bytes(60), "<")
    records = [body] * (pcap.FIRST_BATCH + 50) + [struct.pack("<IIII", 1, 0, 0, 60)] + [body] * 100
    path = tmp_path / "many.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) + b"".join(records))
    native = _scan(path)
    assert len(native[0]) == len(records) and not native[1]
    monkeypatch.setattr(pcap, "_native_records", None)
    assert _scan(path) == native


@settings(max_examples=300, deadline=None)
@given(buf=st.binary(max_size=400), rows=st.lists(st.tuples(st.integers(-5, 420), st.integers(0, 100)), max_size=20),
       words=st.lists(st.sampled_from([b"ntlm", b"negotiate", b"a", b"zz"]), min_size=1, max_size=3, unique=True),
       plant=st.sampled_from([b"", b"NTLM", b"nEgOtIaTe", b"ntl", b"A"]), at=st.integers(0, 400),
       blank=st.sampled_from([b"", b"\n\n", b"\n\r\n", b"\r\n", b"\n\r\r\n", b"\n"]), blank_at=st.integers(0, 400),
       headers=st.booleans())
def test_word_search_is_the_python_search(buf: bytes, rows: list[tuple[int, int]], words: list[bytes], plant: bytes,
                                          at: int, blank: bytes, blank_at: int, headers: bool) -> None:
    data = buf[:at] + plant + buf[at:]
    data = data[:blank_at] + blank + data[blank_at:]
    u8 = np.frombuffer(data, dtype=np.uint8)
    start = np.array([max(0, a) for a, _ in rows], dtype=np.int64)  # (the index never asks before 0)
    length = np.array([n for _, n in rows], dtype=np.int64)
    got = fastapps._has_words(u8, start, length, tuple(words), headers=headers)
    want = fastapps._has_words(u8, start, length, tuple(words), headers=headers, native=None)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("native", [True, None])
def test_word_search_of_headers_stops_at_the_blank_line(native: object) -> None:
    msg = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuse NTLM or Negotiate"
    u8 = np.frombuffer(msg + b"GET / HTTP/1.1\nAuthorization: ntlm x\n\n", dtype=np.uint8)
    at = np.array([0, len(msg), 0], dtype=np.int64)
    n = np.array([len(msg), len(u8) - len(msg), 20], dtype=np.int64)
    found = fastapps._has_words(u8, at, n, fastapps._AUTH_WORDS, headers=True, native=native)
    assert found.tolist() == [False, True, False]
    assert fastapps._has_words(u8, at, n, fastapps._AUTH_WORDS, native=native).tolist() == [True, True, False]


def test_word_search_finds_any_case_and_refuses_bad_words() -> None:
    u8 = np.frombuffer(b"xxAuthorization: NEGOTIATE abc", dtype=np.uint8)
    at, n = np.array([0, 0, 20], dtype=np.int64), np.array([30, 20, 10], dtype=np.int64)
    assert fastapps._has_words(u8, at, n, fastapps._AUTH_WORDS).tolist() == [True, False, False]
    with pytest.raises(ValueError):
        fastapps._native_find_words(u8, at, n, (b"NTLM",))
    with pytest.raises(ValueError):
        fastapps._native_find_words(u8, at, n[:2], (b"ntlm",))


@settings(max_examples=300, deadline=None)
@given(buf=st.binary(max_size=300), pos=st.lists(st.integers(-400, 700), max_size=30), width=st.integers(0, 40),
       pad=st.booleans())
def test_row_copy_is_the_numpy_gather(buf: bytes, pos: list[int], width: int, pad: bool) -> None:
    """Header rows at many offsets (``gather.rows_at``): the C copy clips positions into the buffer
    (or pads rows past its end with zeros) exactly as the NumPy gather does, short buffers and
    empty widths included; with ``pad`` every row is the slice of the buffer it names."""
    u8 = np.frombuffer(buf, dtype=np.uint8)
    at = np.array(pos, dtype=np.int64)
    got = gather.rows_at(u8, at, width, pad=pad)
    want = gather.rows_at_numpy(u8, at, width, pad=pad)
    assert gather._native_rows is not None
    assert got.shape == want.shape == (len(pos), width) and got.tolist() == want.tolist()
    if pad:
        for row, a in zip(got.tolist(), pos, strict=True):
            piece = buf[max(a, 0) : max(a, 0) + width]
            assert bytes(row) == piece + bytes(width - len(piece))


def test_row_copy_refuses_a_negative_width() -> None:
    assert gather._native_rows is not None
    with pytest.raises(ValueError):
        gather._native_rows(b"abc", np.zeros(1, dtype=np.int64), -1)


# packed conversation keys crowd into few bits (small ids shifted high, ports low): draw them so
_KEYS = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 70), st.integers(0, 40).map(lambda k: k << 34),
                  st.sampled_from([0, 2**64 - 1, 2**63]))


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_KEYS, max_size=60), max_size=8))
def test_key_table_is_the_sorted_keys(batches: list[list[int]]) -> None:
    """The conversation keys' hash table in C answers every lookup as the sorted arrays do, across
    additions that make it grow, with keys 0 and 2**64 - 1 and keys differing only in high bits."""
    assert keytable.KeyCache is keytable.HashedKeys
    table, sorted_keys, want = keytable.HashedKeys(), keytable.SortedKeys(), {}
    for batch in batches:
        keys = np.array(batch, dtype=np.uint64)
        got = table.lookup(keys)
        assert got.tolist() == sorted_keys.lookup(keys).tolist() == [want.get(k, -1) for k in batch]
        got[:1] = 7  # the answer is the caller's to change
        new = sorted({k for k in batch if k not in want})
        ids = np.arange(len(want), len(want) + len(new), dtype=np.int64)
        want.update(zip(new, ids.tolist(), strict=True))
        table.add(np.array(new, dtype=np.uint64), ids)
        sorted_keys.add(np.array(new, dtype=np.uint64), ids)
    assert table.count == len(want) and 2 * table.count <= len(table.slots)
    probe = np.array(list(want) + [k ^ 1 for k in want], dtype=np.uint64)
    assert table.lookup(probe).tolist() == sorted_keys.lookup(probe).tolist()


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_KEYS, max_size=60), max_size=8))
def test_interning_through_either_table_numbers_keys_as_they_first_come(batches: list[list[int]]) -> None:
    """``cached_ids`` through the C table (one ``key_claim`` pass) and through the sorted arrays
    give every row the same id; new keys are numbered in the order they first come, and ``make``
    gets each new key once with a row that holds it."""
    tables = (keytable.HashedKeys(), keytable.SortedKeys())
    numbers: list[dict[int, int]] = [{}, {}]
    for batch in batches:
        keys = np.array(batch, dtype=np.uint64)
        got = []
        for table, reg in zip(tables, numbers, strict=True):
            def make(new: np.ndarray, rows: np.ndarray, reg: dict[int, int] = reg, keys: np.ndarray = keys) -> list[int]:
                assert [int(keys[r]) for r in rows.tolist()] == new.tolist() and len(set(new.tolist())) == len(new)
                assert not set(new.tolist()) & set(reg)
                return [reg.setdefault(k, len(reg) + 1) for k in new.tolist()]

            got.append(keytable.cached_ids(table, keys, make).tolist())
        assert got[0] == got[1] == [numbers[0][k] for k in batch]
    order = list(dict.fromkeys(k for batch in batches for k in batch))
    assert [numbers[0][k] for k in order] == list(range(1, len(order) + 1))


def test_a_failed_interning_leaves_no_provisional_number_behind() -> None:
    table = keytable.HashedKeys()
    keytable.cached_ids(table, np.array([5, 6], dtype=np.uint64), lambda new, rows: [1, 2])

    def broken(new: np.ndarray, rows: np.ndarray) -> list[int]:
        raise RuntimeError("interning failed")

    with pytest.raises(RuntimeError):
        keytable.cached_ids(table, np.array([6, 7], dtype=np.uint64), broken)
    assert (table.ids < keytable.PROVISIONAL).all() and table.count == 0  # emptied: it is only a cache
    again = keytable.cached_ids(table, np.array([7, 5], dtype=np.uint64), lambda new, rows: [8, 9])
    assert again.tolist() == [8, 9]


def test_key_table_refuses_a_bad_table_and_a_negative_id() -> None:
    from tracemon.traces import _keys

    slots, ids = np.zeros(6, dtype=np.uint64), np.full(6, -1, dtype=np.int64)
    with pytest.raises(ValueError, match="power-of-two"):
        keytable._native_lookup(slots, ids, np.zeros(1, dtype=np.uint64))
    slots, ids = np.zeros(8, dtype=np.uint64), np.full(8, -1, dtype=np.int64)
    with pytest.raises(ValueError, match="negative"):
        _keys.key_insert(slots, ids, np.zeros(1, dtype=np.uint64), np.full(1, -1, dtype=np.int64))
    _keys.key_insert(slots, ids, np.arange(8, dtype=np.uint64), np.arange(8, dtype=np.int64))
    with pytest.raises(ValueError, match="full"):  # past the half-full rule: refused, never an endless probe
        _keys.key_insert(slots, ids, np.array([99], dtype=np.uint64), np.zeros(1, dtype=np.int64))
    assert keytable._native_lookup(slots, ids, np.array([5, 99], dtype=np.uint64)) == \
        np.array([5, -1], dtype=np.int64).tobytes()


@pytest.mark.parametrize("keys", [[(1, 2), (3, 4), (5, 6)], [(1, 2), (3, 4), (1, 2)], [(3, 4), (9, 9)]])
def test_interning_many_new_keys_is_interning_each(keys: list[tuple[int, int]]) -> None:
    """``intern_many`` appends a batch of new keys whole; a batch that repeats a key, or mixes known
    and new ones, gives the ids that interning one key after another gives."""
    many, one = ConversationTable("eth"), ConversationTable("eth")
    for table in (many, one):
        table.intern((3, 4), 3, 4)
    got = many.intern_many(keys, [k[0] for k in keys], [k[1] for k in keys])
    assert got == [one.intern(k, k[0], k[1]) for k in keys]
    assert (many.a, many.b, many.parent, many.proto, many.keys) == (one.a, one.b, one.parent, one.proto, one.keys)
    fresh = ConversationTable("eth")
    assert fresh.intern_many([(7, 8), (7, 8)], [7, 7], [8, 8]) == [1, 1] and len(fresh) == 1


def _ip4(proto: int, body: bytes, *, ihl: int = 5, frag: int = 0, version: int = 4, tot_extra: int = 0) -> bytes:
    total = max(0, 4 * ihl + len(body) + tot_extra)
    head = struct.pack(">BBHHHBBH4s4s", (version << 4) | ihl, 0, total, 1, frag, 64, proto, 0, b"\x0a\x00\x00\x01",
                       b"\x0a\x00\x00\x02")
    return head + bytes(max(0, 4 * ihl - 20)) + body


def _ip6(proto: int, body: bytes, extra: int = 0) -> bytes:
    return struct.pack(">IHBB", 6 << 28, len(body) + extra, proto, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02" + body


@st.composite
def _frames(draw: st.DrawFn) -> tuple[bytes, int]:
    """A frame of the shapes the C walk decides, and near misses of each (the NumPy walk's)."""
    port = st.sampled_from([53, 80, 443, 445, 3389, 4789, 6081, 5353, 88, 389, 135, 1234, 50000])
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other", "arp"]))
    payload = draw(st.binary(max_size=24))
    if kind == "tcp":
        doff = draw(st.sampled_from([5, 5, 6, 4, 15]))
        l4 = struct.pack(">HHIIBBHHH", draw(port), draw(port), 1, 2, doff << 4, draw(st.integers(0, 255)), 100, 0, 0)
        l4 += bytes(max(0, 4 * doff - 20)) + payload
        proto = 6
    elif kind == "udp":
        l4 = struct.pack(">HHHH", draw(port), draw(port), 8 + len(payload), 0) + payload
        proto = 17
    elif kind == "icmp":
        l4 = bytes([draw(st.integers(0, 140)), 0, 0, 0, 0, 0, 0, 0]) + payload
        proto = draw(st.sampled_from([1, 58]))
    else:
        l4 = payload
        proto = draw(st.sampled_from([47, 50, 51, 2, 132]))
    if kind == "arp":
        ip = struct.pack(">HHBBH", draw(st.sampled_from([1, 1, 6])), draw(st.sampled_from([0x0800, 0x0800, 0x86DD])),
                         draw(st.sampled_from([6, 6, 8])), draw(st.sampled_from([4, 4, 16])), 1) + bytes(20)
        etype = 0x0806
    elif draw(st.booleans()):
        ip = _ip4(proto, l4, ihl=draw(st.sampled_from([5, 5, 6, 4])), frag=draw(st.sampled_from([0, 0, 0x2000, 0x4000])),
                  version=draw(st.sampled_from([4, 4, 6])), tot_extra=draw(st.sampled_from([0, 0, 7, -30])))
        etype = 0x0800
    else:
        ip = _ip6(proto, l4, extra=draw(st.sampled_from([0, 0, 9])))
        etype = 0x86DD
    link = draw(st.sampled_from([1, 1, 1, 101, 228, 229, 113, 276, 105]))
    if link == 1:
        tags = b"".join(struct.pack(">HH", draw(st.sampled_from([0x8100, 0x88A8, 0x9100])), 7)
                        for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3, 4]))))
        frame = bytes(range(12)) + tags + struct.pack(">H", draw(st.sampled_from([etype, etype, 0x0806, 0x888E]))) + ip
    elif link == 113:
        frame = bytes(14) + struct.pack(">H", etype) + ip
    elif link == 276:
        frame = struct.pack(">H", etype) + bytes(18) + ip
    else:
        frame = ip
    return frame[: len(frame) - draw(st.sampled_from([0, 0, 0, 1, 5, 30, 60]))], link


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(_frames(), min_size=1, max_size=40), tunnels=st.booleans())
def test_layer_walk_in_c_is_the_numpy_walk(frames: list[tuple[bytes, int]], tunnels: bool) -> None:
    """``fastwalk.walk`` (plain shapes in C, the rest in NumPy) decides exactly the rows the
    NumPy walk decides, with the same values, over frames of every shape it reads and near misses:
    VLAN stacks, short headers, fragments, bad IHL / data offsets, IPsec, GRE, ports with dissectors,
    ARP for other protocols."""
    assert fastwalk.native_walk_applies()
    buf = b"".join(f for f, _ in frames) + bytes(3)
    starts = np.cumsum([0] + [len(f) for f, _ in frames[:-1]]).astype(np.int64)
    ends = starts + np.array([len(f) for f, _ in frames], dtype=np.int64)
    links = np.array([lk for _, lk in frames], dtype=np.int64)
    v = fastwalk.View(buf)
    got = fastwalk.walk(v, starts, ends, links, tunnels=tunnels)
    want = fastwalk.walk_numpy(v, starts, ends, links, tunnels=tunnels)
    done = want.ok & ~want.fallback
    assert (got.ok & ~got.fallback).tolist() == done.tolist()
    for name in fastwalk.Walk.__slots__:
        a, b = getattr(got, name), getattr(want, name)
        if name in ("src6", "dst6"):
            six = done & (want.family == 6)
            if six.any():
                assert a[six].tolist() == b[six].tolist(), name
            continue
        assert np.asarray(a)[done].tolist() == np.asarray(b)[done].tolist(), name


def test_layout_codes_number_each_triple_once_and_stop_at_the_table_size() -> None:
    """Layout codes through the key table: a triple keeps its code across batches, the 256th
    distinct triple and later ones get 0 (decoded), and a replaced table (a cache restore) is
    numbered afresh, not from the old table's keys."""
    from types import SimpleNamespace

    from tracemon.traces import layeroffs

    trace = SimpleNamespace(layouts=[layeroffs.UNKNOWN])
    l3 = np.arange(300, dtype=np.int64)
    quiet = np.zeros(300, dtype=np.uint64)
    first = layeroffs.codes(trace, l3, l3 + 20, l3 + 28, quiet)  # type: ignore[arg-type]
    assert first[:255].tolist() == list(range(1, 256)) and not first[255:].any()
    again = layeroffs.codes(trace, l3[::-1], l3[::-1] + 20, l3[::-1] + 28, quiet)  # type: ignore[arg-type]
    assert again.tolist() == first[::-1].tolist() and trace.layouts[5] == (4, 24, 32)
    none = layeroffs.codes(trace, np.array([4, 4]), np.array([-1, 24]), np.array([-1, 32]),  # type: ignore[arg-type]
                           np.array([0, layeroffs.MASK["GRE"]], dtype=np.uint64))
    assert none.tolist() == [0, 0]  # (4, NONE, NONE) is new past a full table; GRE may hold two IP headers
    trace.layouts = [layeroffs.UNKNOWN, (7, 27, 35)]
    fresh = layeroffs.codes(trace, np.array([7, 4]), np.array([27, 24]), np.array([35, 32]),  # type: ignore[arg-type]
                            quiet[:2])
    assert fresh.tolist() == [1, 2] and trace.layouts[2] == (4, 24, 32)


@pytest.mark.parametrize("name", ["pcapng/chrissanders_http_ip4and6.pcapng", "pcapng/chrissanders_arppoison.pcapng",
                                  "pcap/tcpreplay_test.pcap",
                                  "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng",
                                  "tunnels"])
def test_the_index_without_the_c_loops_is_the_same_index(name: str, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """Indexed with every C loop switched off (the record walk, row copies, the layer walk, the key
    tables), a trace has the same columns and conversation tables, ids and all: a machine without
    a compiler numbers conversations as one with it."""
    from conftest import sample
    from tracemon.traces import fastclassify, layeroffs

    if name == "tunnels":  # VXLAN, Geneve and NVGRE tenants: their conversations go through more tables
        from test_dissect_synthetic import write_pcap
        from test_tunnels import tunnel_trace_frames

        path = tmp_path / "tunnels.pcap"
        write_pcap(path, 1, tunnel_trace_frames())
    else:
        path = sample(name)
    native = open_trace(path, use_cache=False)
    for module, attr in ((pcap, "_native_records"), (gather, "_native_rows"), (fastwalk, "_native_walk"),
                         (fastclassify, "_native_conv")):
        monkeypatch.setattr(module, attr, None)
    for module in (fastclassify, layeroffs):
        monkeypatch.setattr(module, "KeyCache", keytable.SortedKeys)
    plain = open_trace(path, use_cache=False)
    for col, arr in native.index.columns().items():
        assert plain.index.column(col).tolist() == arr.tolist(), col
    for table in ("eth_conversations", "ip_conversations", "l4_conversations", "tunnel_conversations"):
        a, b = getattr(native, table), getattr(plain, table)
        assert (a.a, a.b, a.parent, a.proto) == (b.a, b.b, b.parent, b.proto), table
    assert plain.layouts == native.layouts


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(_frames(), min_size=1, max_size=12), junk=st.binary(max_size=40),
       moves=st.lists(st.tuples(st.integers(-70, 70), st.integers(-70, 70)), min_size=12, max_size=12))
def test_layer_walk_in_c_reads_only_inside_each_frame(frames: list[tuple[bytes, int]], junk: bytes,
                                                      moves: list[tuple[int, int]]) -> None:
    """Real frame shapes with their bounds moved (cut short, run into the next frame, negative,
    reversed, past the buffer): the C walk decides only rows whose bounds lie in the buffer, and a
    decided row reads nothing past its end: the answer stays when every later byte changes."""
    buf = b"".join(f for f, _ in frames) + junk
    starts = np.cumsum([0] + [len(f) for f, _ in frames[:-1]]).astype(np.int64)
    o = starts + np.array([m[0] if k % 2 else 0 for k, m in enumerate(moves[: len(frames)])], dtype=np.int64)
    end = starts + np.array([len(f) for f, _ in frames], dtype=np.int64) + np.array(
        [m[1] if k % 3 else 0 for k, m in enumerate(moves[: len(frames)])], dtype=np.int64)
    link = np.array([lk for _, lk in frames], dtype=np.int64)

    def run(data: bytes, rows: slice) -> tuple[np.ndarray, ...]:
        n = len(o[rows])
        cols = tuple(np.zeros(n, dtype=np.int64) for _ in fastwalk.WALK_COLUMNS)
        fastwalk._native_walk(np.frombuffer(data, dtype=np.uint8), o[rows], end[rows], link[rows], cols,
                              np.zeros((n, 32), dtype=np.uint8), fastwalk._LINKTYPES, fastwalk._EMBEDDING4,
                              fastwalk._EMBEDDING6, True)
        return cols

    cols = run(buf, slice(None))
    state = cols[0]
    inside = (o >= 0) & (o <= end) & (end <= len(buf))
    assert not (state[~inside] != 0).any()
    for k in np.flatnonzero(state != 0).tolist():
        changed = buf[: end[k]] + bytes(b ^ 0x5A for b in buf[end[k] :])
        assert [c[0] for c in run(changed, slice(k, k + 1))] == [c[k] for c in cols]


def _pcapng_block(btype: int, body: bytes, endian: str, *, length: int | None = None, tail: int | None = None) -> bytes:
    n = 12 + len(body) + (-len(body) % 4)
    return (struct.pack(endian + "II", btype, n if length is None else length) + body + bytes(-len(body) % 4)
            + struct.pack(endian + "I", n if tail is None else tail))


@st.composite
def pcapngs(draw: st.DrawFn) -> bytes:
    """Sections of packet blocks in either byte order, with the blocks the C walk stops at: other
    block types, a second interface or section, unknown types, and damaged lengths."""
    out = b""
    for _ in range(draw(st.integers(1, 2))):
        e = draw(st.sampled_from(["<", ">"]))
        out += struct.pack(e + "IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
        out += _pcapng_block(1, struct.pack(e + "HHI", 1, 0, 0), e)
        for k in range(draw(st.integers(0, 14))):
            data = draw(st.binary(min_size=0, max_size=70))
            epb = struct.pack(e + "IIIII", 0, 0, 1000 + k, len(data), len(data)) + data
            kind = draw(st.sampled_from(["epb"] * 6 + ["tail", "odd", "short", "spb", "idb", "unknown", "huge"]))
            if kind == "epb":
                out += _pcapng_block(6, epb, e)
            elif kind == "tail":  # the trailing length disagrees
                out += _pcapng_block(6, epb, e, tail=len(epb) + 16)
            elif kind == "odd":  # a length that is no multiple of 4
                out += _pcapng_block(6, epb, e, length=13 + len(epb) + (-len(epb) % 4))
            elif kind == "short":  # shorter than an EPB can be
                out += _pcapng_block(6, b"\0" * 8, e)
            elif kind == "spb":
                out += _pcapng_block(3, struct.pack(e + "I", len(data)) + data, e)
            elif kind == "idb":
                out += _pcapng_block(1, struct.pack(e + "HHI", 1, 0, 0), e)
            elif kind == "unknown":
                out += _pcapng_block(0x0BAD, data, e)
            else:  # announces more than the file holds
                out += _pcapng_block(6, epb, e, length=1 << 20)
    return out[: max(28, len(out) - draw(st.sampled_from([0, 0, 0, 3, 20])))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=pcapngs())
def test_pcapng_block_walk_is_the_python_walk(data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C walk over runs of packet blocks gives the rows, timestamps, warnings and damage
    report of the Python loop, for any mix of blocks, byte orders and damage."""
    assert pcapng._native_epbs is not None
    path = tmp_path / "t.pcapng"
    path.write_bytes(data)

    def scan() -> tuple[list[int], list[int], list[tuple[int, str]]]:
        trace = open_trace(path, use_cache=False)
        return trace.index.loc.tolist(), trace.index.ts.tolist(), [(w.offset, w.cause) for w in trace.warnings]

    native = scan()
    with monkeypatch.context() as m:
        m.setattr(pcapng, "_native_epbs", None)
        assert scan() == native


def test_pcapng_block_walk_stops_at_every_block_it_does_not_take(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One file with each block the C walk must leave to the Python loop, between packet blocks
    and in both byte orders: the same rows, times, kinds and warnings either way."""
    out = b""
    for e in ("<", ">"):
        data = bytes(range(40))
        epb = _pcapng_block(6, struct.pack(e + "IIIII", 0, 0, 1000, len(data), len(data)) + data, e)
        out += struct.pack(e + "IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
        out += _pcapng_block(1, struct.pack(e + "HHI", 1, 0, 0), e) + epb
        out += _pcapng_block(3, struct.pack(e + "I", len(data)) + data, e) + epb  # a simple packet block
        out += _pcapng_block(0x0BAD, data, e) + epb  # an unknown block
        out += _pcapng_block(1, struct.pack(e + "HHI", 1, 0, 0), e) + epb  # a second interface
        out += _pcapng_block(0x80000001, data, e) + epb  # a local-use block
    out += _pcapng_block(6, struct.pack("<IIIII", 0, 0, 3000, 8, 8) + bytes(8), "<", tail=99)  # damage last
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(out)

    def scan() -> tuple[list[int], list[int], list[int], list[tuple[int, str]]]:
        trace = open_trace(path, use_cache=False)
        return (trace.index.loc.tolist(), trace.index.ts.tolist(), trace.index.kind.tolist(),
                [(w.offset, w.cause) for w in trace.warnings])

    native = scan()
    monkeypatch.setattr(pcapng, "_native_epbs", None)
    assert scan() == native and len(native[0]) == 14 and native[3]
