"""The C conversation pass (``_keys.conversations``, ``fastclassify._native``) against its NumPy
reference (``fastclassify._eth``/``_ip4``/``_l4`` over the key tables): the same conversation
tables and the same per-frame ids and direction bits, on frames whose addresses and ports repeat
(so keys come back, sides swap and equal addresses meet), in several batches, and where the
scalar path interned a conversation first."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_synthetic import eth, ipv4, ipv6, tcp, udp, write_pcap
from tracemon.traces import fastclassify, keytable, open_trace, pcap

pytestmark = pytest.mark.skipif(fastclassify._native_conv is None, reason="the C extension _keys is not built")

MACS = [bytes([2, 0, 0, 0, 0, k]) for k in range(1, 5)]
V4 = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.9"]
V6 = ["2001:db8::1", "2001:db8::2", "fe80::9"]
PORTS = [53, 80, 443, 1024, 50000]


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["tcp4", "udp4", "icmp4", "tcp6", "udp6", "arp"]))
    sport, dport = draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS))
    l4 = tcp(sport, dport, 0x18, b"x") if kind.startswith("tcp") else udp(sport, dport, b"y")
    if kind.endswith("4"):
        src, dst = draw(st.sampled_from(V4)), draw(st.sampled_from(V4))
        pkt, etype = ipv4(1 if kind == "icmp4" else 6 if kind == "tcp4" else 17,
                          bytes(8) if kind == "icmp4" else l4, src, dst), 0x0800
    elif kind.endswith("6"):
        pkt, etype = ipv6(6 if kind == "tcp6" else 17, l4, draw(st.sampled_from(V6)), draw(st.sampled_from(V6))), 0x86DD
    else:
        pkt, etype = bytes(28), 0x0806  # (not a well-formed ARP: its Ethernet conversation is all that counts)
    return eth(etype, pkt, dst=draw(st.sampled_from(MACS)), src=draw(st.sampled_from(MACS)))


def _index(path: Path, monkeypatch: pytest.MonkeyPatch, native: bool, batch: int,
           first: list[tuple[str, tuple, tuple]]) -> tuple[dict[str, list[int]], list[tuple]]:
    """The conversation columns and tables of ``path`` read ``batch`` frames at a time, with or
    without the C pass; ``first``: conversations interned before the scan (as the scalar path may)."""
    with monkeypatch.context() as m:
        m.setattr(pcap, "FIRST_BATCH", batch)
        m.setattr(pcap, "BATCH", batch)
        if not native:
            m.setattr(fastclassify, "_native_conv", None)
            m.setattr(fastclassify, "KeyCache", keytable.SortedKeys)
        trace = open_trace(path, load=False, use_cache=False)
        for table, key, cols in first:
            getattr(trace, table).intern(key, *cols)
        trace.load(use_cache=False)
    cols = {c: trace.index.column(c).tolist() for c in ("eth_conv", "ip_conv", "l4_conv", "dirflags")}
    tables = [(t.a, t.b, t.parent, t.proto) for t in (trace.eth_conversations, trace.ip_conversations,
                                                      trace.l4_conversations)]
    return cols, tables


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(_frame(), min_size=1, max_size=60), batch=st.sampled_from([7, 64, 4096]),
       pre=st.sampled_from(["none", "ip", "l4", "eth", "ip6"]))
def test_the_c_pass_numbers_conversations_as_the_numpy_path(frames: list[bytes], batch: int, pre: str,
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path_factory.mktemp("conv") / "t.pcap"
    write_pcap(path, 1, frames)
    a, b = int.from_bytes(bytes(map(int, V4[2].split("."))), "big"), int.from_bytes(bytes(map(int, V4[0].split("."))), "big")
    x6, y6 = sorted(int(ipaddress.ip_address(v)) for v in V6[:2])
    first = {"none": [],
             # a conversation the scalar path met first: the C pass finds it new to its tables
             "ip": [("ip_conversations", (4, b, a), (b, a, 0, 4))],
             "eth": [("eth_conversations", (int.from_bytes(MACS[0], "big"), int.from_bytes(MACS[1], "big")),
                      (int.from_bytes(MACS[0], "big"), int.from_bytes(MACS[1], "big")))],
             "l4": [("ip_conversations", (4, b, a), (b, a, 0, 4)), ("l4_conversations", (1, 6, 80, 443), (80, 443, 1, 6))],
             "ip6": [("ip_conversations", (6, x6, y6), (x6, y6, 0, 6))],
             }[pre]
    assert _index(path, monkeypatch, True, batch, first) == _index(path, monkeypatch, False, batch, first)


def test_the_c_pass_grows_its_tables_and_keeps_known_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of conversations in one batch (the pass stops and goes on as each table doubles),
    and a conversation table that already holds some of them: the same ids as the NumPy path."""
    frames = [eth(0x0800, ipv4(6 if k % 3 else 17, tcp(1000 + k, 80, 0x18) if k % 3 else udp(1000 + k, 53, b"q"),
                                f"10.{k % 7}.0.{k % 250 + 1}", "10.9.9.9"),
                  dst=MACS[k % 4], src=bytes([2, 1, 0, 0, k // 256, k % 256]))
              for k in range(700)]
    path = tmp_path / "many.pcap"
    write_pcap(path, 1, frames)
    first = [("ip_conversations", (4, 0x0A000005, 0x0A090909), (0x0A000005, 0x0A090909, 0, 4))]
    native = _index(path, monkeypatch, True, 4096, first)
    assert native == _index(path, monkeypatch, False, 4096, first)
    cols, tables = native
    assert len(tables[2][0]) - 1 == 700
    assert cols["ip_conv"][504] == 1 and cols["ip_conv"][4] != 1  # 10.0.0.5 ↔ 10.9.9.9; 10.4.0.5 ↔ 10.9.9.9


def test_the_c_pass_refuses_bad_arguments() -> None:
    rows = np.array([0, 1], dtype=np.int64)
    cols = (np.ones(2, dtype=bool), *(np.zeros(2, dtype=np.int64) for _ in range(8)))
    wide, narrow = keytable.WideKeys(2), keytable.HashedKeys()
    out = (np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, np.uint8))
    conv = fastclassify._native_conv
    *_, done = conv(rows, cols, wide.spec(1), narrow.spec(1), keytable.WideKeys(2).spec(1), (1, 1, 1), out)
    assert done == 2 and out[0].tolist() == [1, 1]  # one Ethernet conversation (00…00 with itself)
    with pytest.raises(IndexError):
        conv(np.array([2], dtype=np.int64), cols, wide.spec(1), narrow.spec(1), wide.spec(1), (1, 1, 1), out)
    with pytest.raises(ValueError):
        conv(rows, (cols[0][:1], *cols[1:]), wide.spec(1), narrow.spec(1), wide.spec(1), (1, 1, 1), out)
    with pytest.raises(ValueError):
        conv(rows, cols, wide.spec(1), narrow.spec(1), wide.spec(1), (1, 1, 1), tuple(o[:1] for o in out))
    with pytest.raises(TypeError):
        conv(rows, cols[:8], wide.spec(1), narrow.spec(1), wide.spec(1), (1, 1, 1), out)


def test_new_conversations_are_appended_only_while_the_c_tables_hold_every_key(tmp_path: Path) -> None:
    """A C pass's new conversations are appended without a look-up while its tables hold every key
    of the conversation table; once a key came another way (the scalar path), or the C tables were
    emptied after a failure, they are interned, and a key the table knew keeps its id.  Appended
    keys join ``keys`` when it is next read."""
    from tracemon.traces.index import ConversationTable

    path = tmp_path / "one.pcap"
    write_pcap(path, 1, [eth(0x0800, ipv4(17, udp(1, 2, b"z"), V4[0], V4[1]), dst=MACS[0], src=MACS[1])])
    trace = open_trace(path, use_cache=False)
    table = ConversationTable("ip")
    assert fastclassify._added(trace, table, lambda: [(4, 1, 2)], [1], [2], [0], [4]) == [1]
    assert table.interned == 0 and table.keys == {(4, 1, 2): 1}
    table.intern((4, 5, 6), 5, 6, 0, 4)  # the scalar path: a key the C tables do not know
    assert table.interned == 1
    assert fastclassify._added(trace, table, lambda: [(4, 5, 6), (4, 7, 8)], [5, 7], [6, 8], [0, 0], [4, 4]) == [2, 3]
    fresh = ConversationTable("ip")
    fresh.append_new([1], [2], [0], [4])
    fastclassify._forget_native(trace)  # the C tables emptied: they no longer hold every key
    assert fastclassify._added(trace, fresh, lambda: [(4, 1, 2)], [1], [2], [0], [4]) == [1]
    assert len(fresh) == 1
