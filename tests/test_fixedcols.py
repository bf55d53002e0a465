"""Fixed-position field columns (traces/fixedcols.py) and the index's layer offsets against the
dissector, the definition.

Every field of ``fixedfields.FIXED`` gets its column on every sample and on generated frames
(options, fragments, VLAN tags, truncation, tunnels, ICMP errors, odd ARP): a frame the column
calls present holds exactly the dissector's value, a frame it calls absent has no instance, and
frames it leaves to decoding are free — but only frames the index cannot vouch for may be left.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_synthetic import (
    MAC_A,
    MAC_B,
    a4,
    eth,
    ethernet_frames,
    icmp,
    ipv4,
    ipv6,
    ipv6_frames,
    tcp,
    udp,
    write_pcap,
)
from tracemon.filters import compile_filter
from tracemon.traces import fixedfields, layeroffs, open_trace
from tracemon.traces.fieldcols import ABSENT, DECODE, PRESENT, columns_for
from tracemon.traces.fields import REGISTRY, FieldType
from tracemon.traces.index import KIND_PACKET
from tracemon.traces.protocols import MASK

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

NAMES = sorted(REGISTRY.get(k).name for k in fixedfields.FIXED)
PACKET_FILES = samples("pcap") + samples("pcapng") + samples("netmon")


def _layer_rows(trace, layer: str) -> np.ndarray:
    return (trace.index.protos & np.uint64(MASK[layer])) != 0


def _records(trace, rows: np.ndarray) -> list[bytes]:
    """The event records of ``rows``, in their order (etw/bulk.py)."""
    from tracemon.traces.etw.bulk import record_chunks

    out = [b""] * len(rows)
    for chunk in record_chunks(trace.reader, rows):
        for j, k in enumerate(chunk.sel.tolist()):
            out[k] = chunk.blob[int(chunk.start[j]) : int(chunk.start[j]) + int(chunk.length[j])].tobytes()
    return out


def _record_offset(trace, i: int, data: bytes) -> int:
    """Where an ETW packet's bytes start in its event record (-1: in no record as such, i.e.
    assembled from several events).  The first two bytes are skipped: an 802.11 frame's
    Protected bit is cleared in the packet but not in the record."""
    rec = _records(trace, np.array([i]))[0]
    at = rec.find(data[2:]) if len(data) > 2 else -1
    return at - 2 if at >= 2 else -1


def check_fixed(trace) -> dict[str, int]:
    """Every fixed column against the dissector on every frame carrying one of the layers (the
    others must be absent: the index's presence mask is the dissector's, test_classify); frames
    left to decoding may only be those the index cannot vouch for.  Returns frames answered."""
    cols = {name: columns_for(trace).get(REGISTRY.get(name)) for name in NAMES}
    if all(c is None for c in cols.values()):
        assert trace.format == "etl" and not (trace.index.kind & KIND_PACKET).any()
        return dict.fromkeys(NAMES, 0)
    layers = {fixedfields.FIXED[n.lower()].layer for n in NAMES}
    mask = sum(MASK[name] for name in layers)
    carrying = (trace.index.protos & np.uint64(mask)) != 0
    multi = layeroffs.multi_instance(trace.index.protos)
    answered = dict.fromkeys(NAMES, 0)
    for name, col in cols.items():
        assert col is not None and len(col) == len(trace), name
        assert (col.state[~carrying] == ABSENT).all(), name
    for i in np.flatnonzero(carrying).tolist():
        frame = trace.reader.frame(i)
        offs = None
        for name, col in cols.items():
            state = int(col.state[i])
            decoded = [f.value for f in frame.fields(name)]
            if state == DECODE:
                if multi[i]:
                    continue
                if offs is None:
                    offs = fixedfields.layer_offsets(frame.layers, frame.data)
                    if trace.format == "etl" and _record_offset(trace, i, frame.data) < 0:
                        offs = (-1, -1, -1)
                # only a layer the dissector does not vouch for is left to decoding
                assert offs[fixedfields.FIXED[name.lower()].level] < 0, (trace.path, name, i + 1)
                continue
            got = [col.values[i].item()] if state == PRESENT else []
            assert got == decoded, (trace.path, name, i + 1, got, decoded)
            answered[name] += 1
    return answered


@pytest.mark.parametrize("path", PACKET_FILES, ids=lambda p: p.name)
def test_every_fixed_column_matches_the_dissector_on_every_sample(path: Path) -> None:
    check_fixed(open_trace(path, use_cache=False))


@pytest.mark.parametrize("path", samples("etl", ".etl"), ids=lambda p: p.name)
def test_every_fixed_column_matches_the_dissector_on_etl_packets(path: Path) -> None:
    check_fixed(open_trace(path, use_cache=False))


def test_most_frames_of_the_samples_are_answered_by_gather() -> None:
    """The layer offsets really are in the index (a column leaving everything to decoding would
    pass the agreement test)."""
    path = samples("pcap")[0]
    trace = open_trace(path, use_cache=False)
    for name in ("IPv4.TimeToLive", "TCP.Window", "UDP.TotalLength", "IPv4.Identification"):
        col = columns_for(trace).get(REGISTRY.get(name))
        carrying = _layer_rows(trace, name.split(".")[0])
        present = (col.state == PRESENT).sum()
        assert present >= 0.8 * carrying.sum() > 0, (name, present, carrying.sum())


@pytest.mark.parametrize("path", PACKET_FILES, ids=lambda p: p.name)
def test_index_and_dissector_give_the_same_layer_offsets(path: Path) -> None:
    check_offsets(path)


@pytest.mark.parametrize("path", samples("etl", ".etl"), ids=lambda p: p.name)
def test_index_and_dissector_give_the_same_layer_offsets_in_etl_records(path: Path) -> None:
    check_offsets(path)


def check_offsets(path: Path) -> None:
    """The index's layout codes name the offsets ``fixedfields.layer_offsets`` finds in the
    decoded frame, on every packet that cannot hold a second instance of a layer."""
    trace = open_trace(path, use_cache=False)
    table = layeroffs.table_array(trace)
    codes = trace.index.column("layout")
    single = ~layeroffs.multi_instance(trace.index.protos) & ((trace.index.kind & KIND_PACKET) != 0)
    rows = np.flatnonzero(single | (codes != 0))
    if trace.format == "etl":  # an ETW packet's offsets count from its event record's start
        records = _records(trace, rows)
    for k, i in enumerate(rows.tolist()):
        frame = trace.reader.frame(i)
        at = 0
        if trace.format == "etl":
            rec = records[k]
            at = rec.find(frame.data[2:]) - 2 if len(frame.data) > 2 and frame.data[2:] in rec else -1
        if at < 0:
            assert codes[i] == 0  # assembled from several events
            continue
        want = tuple(-1 if x == layeroffs.NONE else x - at for x in table[codes[i]].tolist())
        assert fixedfields.layer_offsets(frame.layers, frame.data) == want, (path.name, i + 1)


def test_the_table_holds_every_field_at_a_fixed_place() -> None:
    """Every registry field of these layers that the dissector puts at the same place in every
    full header (on all samples and crafted frames) is in ``FIXED``."""
    places: dict[str, set] = {}
    layers_seen: dict[str, int] = {}
    present: dict[str, int] = {}
    frames = [(f.layers, f.data) for p in PACKET_FILES for t in [open_trace(p, use_cache=False)]
              for f in (t.reader.frame(i) for i in range(len(t)))]
    for layers, data in frames:
        for layer in layers:
            name = layer.protocol.name
            if name not in fixedfields.BY_LAYER or not fixedfields.vouches(layer, data):
                continue
            layers_seen[name] = layers_seen.get(name, 0) + 1
            for f in layer.walk():
                if f.fdef is None or f.length <= 0 or f.fdef.type in (FieldType.PROTOCOL, FieldType.BYTES):
                    continue
                if not f.fdef.name.lower().startswith(name.lower() + "."):
                    continue
                places.setdefault(f.fdef.name, set()).add((f.start - layer.start, f.length, f.bits))
                present[f.fdef.name] = present.get(f.fdef.name, 0) + 1
    fixed_here = {n for n, p in places.items() if len(p) == 1 and present[n] == layers_seen[n.split(".")[0]]}
    missing = {n for n in fixed_here if n.lower() not in fixedfields.FIXED and n.lower() not in fixedfields.NOT_GATHERED}
    assert not missing


# -- generated frames -----------------------------------------------------------------------------

def _opts(n: int) -> bytes:
    return b"\x01" * (n - 1) + b"\x00" if n else b""


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    l4 = draw(st.sampled_from(["tcp", "udp", "icmp", "gre", "ipip", "none"]))
    data = draw(st.binary(max_size=24))
    if l4 == "tcp":
        seg = tcp(draw(st.integers(0, 65535)), draw(st.integers(0, 65535)), draw(st.integers(0, 0xFFF)), data,
                  seq=draw(st.integers(0, 2**32 - 1)), ack=draw(st.integers(0, 2**32 - 1)),
                  window=draw(st.integers(0, 65535)), options=_opts(4 * draw(st.integers(0, 10))),
                  urgent=draw(st.integers(0, 65535)))
        if draw(st.booleans()):  # a data offset that does not fit (less than 20 or past the end)
            seg = seg[:12] + bytes([draw(st.integers(0, 15)) << 4 | (seg[12] & 15)]) + seg[13:]
        proto = 6
    elif l4 == "udp":
        seg = udp(draw(st.integers(0, 65535)), draw(st.sampled_from([53, 80, 4789, 1234])), data)
        if draw(st.booleans()):
            seg = seg[:4] + struct.pack("!H", draw(st.integers(0, 80))) + seg[6:]
        proto = 17
    elif l4 == "icmp":
        typ = draw(st.sampled_from([0, 3, 8, 11, 13, 5]))
        quoted = ipv4(17, udp(1000, 53, b"q"))[: draw(st.integers(0, 28))] if typ in (3, 11, 5) else data
        seg, proto = icmp(typ, draw(st.integers(0, 15)), draw(st.binary(min_size=4, max_size=4)), quoted), 1
    elif l4 == "gre":
        seg, proto = struct.pack("!HH", 0, 0x0800) + ipv4(6, tcp(1, 2, 0x10)), 47
    elif l4 == "ipip":
        seg, proto = ipv4(17, udp(5, 6, data), ttl=draw(st.integers(0, 255))), 4
    else:
        seg, proto = data, draw(st.integers(0, 255))
    family = draw(st.sampled_from(["v4", "v4", "v6", "arp"]))
    if family == "v4":
        total = draw(st.sampled_from([None, None, 0, 10, 20 + len(seg) // 2, 2000]))
        frag = draw(st.sampled_from([0, 0, 0, 1, 100]))
        pkt = ipv4(proto, seg, ttl=draw(st.integers(0, 255)), ident=draw(st.integers(0, 65535)),
                   flags=draw(st.integers(0, 7)), frag=frag, options=_opts(4 * draw(st.integers(0, 10))), total=total)
        pkt = pkt[:1] + bytes([draw(st.integers(0, 255))]) + pkt[2:]  # DSCP/ECN
        if draw(st.integers(0, 9)) == 0:  # a damaged version/IHL byte
            pkt = bytes([draw(st.integers(0, 255))]) + pkt[1:]
        etype = 0x0800
    elif family == "v6":
        pkt = ipv6(58 if proto == 1 else proto, seg, hlim=draw(st.integers(0, 255)))
        if draw(st.booleans()):  # a hop-by-hop header before the payload
            pkt = pkt[:6] + b"\x00" + pkt[7:40] + bytes([pkt[6], 0]) + b"\x01\x04\x00\x00\x00\x00" + pkt[40:]
            pkt = pkt[:4] + struct.pack("!H", len(pkt) - 40) + pkt[6:]
        pkt = pkt[:1] + bytes([draw(st.integers(0, 255))]) + pkt[2:]  # traffic class / flow label bits
        etype = 0x86DD
    else:
        hlen = draw(st.sampled_from([6, 6, 8]))
        pkt = struct.pack("!HHBBH", 1, 0x0800, hlen, 4, draw(st.integers(0, 4))) + \
            (MAC_A + b"\0" * (hlen - 6)) + a4("10.0.0.1") + (MAC_B + b"\0" * (hlen - 6)) + a4("10.0.0.2")
        etype = 0x0806
    frame = eth(etype, pkt)
    if draw(st.booleans()):
        frame = frame[:12] + struct.pack("!HH", 0x8100, draw(st.integers(0, 0xFFFF))) + frame[12:]
    if draw(st.integers(0, 4)) == 0:  # cut by the snap length
        frame = frame[: draw(st.integers(0, len(frame)))]
    elif draw(st.booleans()):  # Ethernet padding
        frame += bytes(draw(st.integers(1, 30)))
    return frame


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(frames(), min_size=1, max_size=30))
def test_generated_frames(tmp_path_factory: pytest.TempPathFactory, batch: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fixed") / "gen.pcap"
    write_pcap(path, 1, batch)
    trace = open_trace(path, use_cache=False)
    check_fixed(trace)


def test_crafted_frames(tmp_path: Path) -> None:
    path = tmp_path / "crafted.pcap"
    frames_ = ethernet_frames() + ipv6_frames(lambda p: eth(0x86DD, p))
    write_pcap(path, 1, frames_)
    trace = open_trace(path, use_cache=False)
    answered = check_fixed(trace)
    single = int((~layeroffs.multi_instance(trace.index.protos)).sum())
    assert answered["IPv4.TimeToLive"] >= single and answered["TCP.Window"] >= single > 30
    raw = tmp_path / "raw.pcap"
    write_pcap(raw, 101, [ipv4(6, tcp(1, 2, 0x12, window=77)), ipv6(17, udp(3, 4, b"x"), hlim=9)])
    trace = open_trace(raw, use_cache=False)
    assert check_fixed(trace)["TCP.Window"] == 2
    assert columns_for(trace).get(REGISTRY.get("TCP.Window")).values[0] == 77


# -- filters and the cache -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen_traces import write_pcap as gen

    path = tmp_path_factory.mktemp("syn") / "syn.pcap"
    gen(path, 2000)
    return path


@pytest.mark.parametrize("expr", [
    "IPv4.TTL < 100", "IPv4.Identification == 7 OR IPv4.Flags.DontFragment == 0",
    "TCP.Window > 30000 AND TCP.Flags.Psh == 1", "TCP.SequenceNumber > 2000000000", "UDP.TotalLength > 60",
    "IPv6.HopLimit == 64 OR IPv6.FlowLabel != 0", "ICMP.Type == 8", "ARP.Operation == 2",
    "!(IPv4.HeaderLength == 20)", "TCP.Flags == 0x12",
])
def test_filters_over_fixed_columns_select_what_decoding_selects(synthetic: Path, expr: str) -> None:
    trace = open_trace(synthetic, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert cf.last_stats.decoded == 0, expr
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr
    assert any("gather" in line for line in cf.explain(trace)), cf.explain(trace)


def test_layer_offsets_and_columns_come_back_from_the_cache(synthetic: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    first = open_trace(synthetic)
    col = columns_for(first).get(REGISTRY.get("TCP.Window"))
    again = open_trace(synthetic)
    assert again.from_cache and again.layouts == first.layouts and len(first.layouts) > 1
    assert np.array_equal(again.index.column("layout"), first.index.column("layout"))
    cached = columns_for(again).get(REGISTRY.get("TCP.Window"))
    assert isinstance(cached.values, np.memmap) and np.array_equal(cached.values, col.values)
    assert np.array_equal(cached.state, col.state)
    fresh = open_trace(synthetic, use_cache=False)  # and a column built on the restored index agrees
    columns_for(again)._cols.clear()
    folder_cols = columns_for(again)
    for name in ("IPv4.TimeToLive", "UDP.TotalLength"):
        a = columns_for(fresh).get(REGISTRY.get(name))
        b = folder_cols.get(REGISTRY.get(name))
        assert np.array_equal(a.state, b.state) and np.array_equal(a.values, b.values)
