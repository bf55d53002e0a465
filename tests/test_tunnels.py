"""Seeing through VXLAN, NVGRE and Geneve in the index (``traces/tunnels.py``).

A crafted trace of tenant traffic in every tunnel (with the shapes the index must *not* see
through: a short tenant frame, a tunnel in a tunnel, Geneve carrying IP directly, an ICMP error
quoting a tunnel packet) is read by tshark and by us: filters on tenant and outer addresses,
ports and network ids select tshark's frames from the index alone, the vectorised classifier
gives the dissectors' columns, and the conversation tree shows each tenant under its network.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tshark
from test_dissect_synthetic import icmp, ipv6, write_pcap
from test_dissect_synthetic import udp as bare_udp
from test_tshark_fields import TSHARK_PREFS
from tracemon.filters import compile_filter
from tracemon.filters.indexed import Chunk, state_for
from tracemon.traces import open_trace
from tracemon.traces import tunnels as tunnel_table
from tracemon.traces.classify import classify_scalar
from tracemon.traces.craft import arp, ethernet, geneve, geneve_option, ipv4, nvgre, tcp, udp, vxlan
from tracemon.traces.index import KIND_PACKET
from tracemon.traces.protocols import CODE
from tracemon.tui import conversations

HOST_A, HOST_B, HOST_C = "001dd8b71c01", "001dd8b71c02", "001dd8b71c03"
VM_1, VM_2, VM_3 = "00155d010101", "00155d010102", "00155d010103"


def _outer4(src: str, dst: str, proto: int, payload: bytes, smac: str = HOST_A, dmac: str = HOST_B) -> bytes:
    return ethernet(smac, dmac, 0x0800, ipv4(src, dst, proto, payload, 1))


def _udp_tunnel(src: str, dst: str, sport: int, dport: int, payload: bytes, **kw: str) -> bytes:
    return _outer4(src, dst, 17, udp(src, dst, sport, dport, payload), **kw)


def _tenant_tcp(src: str, dst: str, sport: int, dport: int, flags: int, data: bytes = b"", smac: str = VM_1,
                dmac: str = VM_2) -> bytes:
    return ethernet(smac, dmac, 0x0800, ipv4(src, dst, 6, tcp(src, dst, sport, dport, 1, 1, flags, data), 7))


def _tenant_udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    return ethernet(VM_1, VM_2, 0x0800, ipv4(src, dst, 17, udp(src, dst, sport, dport, data), 8))


def tunnel_trace_frames() -> list[bytes]:
    http = b"GET /tenant HTTP/1.1\r\nHost: app\r\n\r\n"
    syn = _tenant_tcp("192.168.1.10", "192.168.1.20", 50000, 80, 0x02)
    synack = _tenant_tcp("192.168.1.20", "192.168.1.10", 80, 50000, 0x12, smac=VM_2, dmac=VM_1)
    req = _tenant_tcp("192.168.1.10", "192.168.1.20", 50000, 80, 0x18, http)
    # the same tenant addresses in another virtual network: another conversation
    other_net = _tenant_tcp("192.168.1.10", "192.168.1.20", 50001, 443, 0x02)
    dns = _tenant_udp("192.168.2.5", "192.168.2.1", 53000, 53, struct.pack("!HHHHHH", 1, 0x0100, 0, 0, 0, 0))
    tenant_arp = ethernet(VM_3, "ffffffffffff", 0x0806, arp(1, VM_3, "192.168.1.30", "000000000000", "192.168.1.20"))
    v6 = ethernet(VM_1, VM_2, 0x86DD, ipv6(6, struct.pack("!HHIIBBHHH", 50010, 445, 1, 0, 0x50, 0x02, 8192, 0, 0),
                                           src="fd10::10", dst="fd10::20"))
    opts = geneve_option(0x0103, 0x80, b"\x00\x00\x00\x2a") + geneve_option(0xFFFF, 0x01, bytes(8))
    quoted = ipv4("10.0.0.1", "10.0.0.2", 17, udp("10.0.0.1", "10.0.0.2", 40000, 4789, vxlan(5001, syn)), 9)
    return [
        _udp_tunnel("10.0.0.1", "10.0.0.2", 40000, 4789, vxlan(5001, syn)),
        _udp_tunnel("10.0.0.2", "10.0.0.1", 40001, 4789, vxlan(5001, synack), smac=HOST_B, dmac=HOST_A),
        _udp_tunnel("10.0.0.1", "10.0.0.2", 40000, 4789, vxlan(5001, req)),
        _udp_tunnel("10.0.0.1", "10.0.0.3", 40002, 4789, vxlan(5002, other_net), dmac=HOST_C),
        _udp_tunnel("10.0.0.3", "10.0.0.1", 40003, 4789, vxlan(5001, dns), smac=HOST_C, dmac=HOST_A),
        _udp_tunnel("10.0.0.1", "10.0.0.2", 40000, 4789, vxlan(5001, tenant_arp)),
        _outer4("10.0.0.1", "10.0.0.3", 47, nvgre(6001, 7, req), dmac=HOST_C),
        _outer4("10.0.0.3", "10.0.0.1", 47, nvgre(6001, 9, synack, checksum_word=True, sequence=5), smac=HOST_C,
                dmac=HOST_A),
        _udp_tunnel("10.0.0.2", "10.0.0.3", 40004, 6081, geneve(7001, req, opts, flags=0x40), smac=HOST_B, dmac=HOST_C),
        ethernet(HOST_A, HOST_B, 0x86DD, ipv6(17, bare_udp(40005, 6081, geneve(7002, v6)),
                                              src="fd00::1", dst="fd00::2")),
        # shapes the index does not see through (decoded when it cannot prove a match)
        _udp_tunnel("10.0.0.1", "10.0.0.2", 40000, 4789, vxlan(5003, syn[:10])),  # the tenant frame cut short
        _udp_tunnel("10.0.0.1", "10.0.0.2", 40006, 4789, vxlan(5004, ethernet(
            VM_1, VM_2, 0x0800, ipv4("172.16.0.1", "172.16.0.2", 17, udp(
                "172.16.0.1", "172.16.0.2", 40007, 4789, vxlan(5005, syn)), 3)))),  # a tunnel in the tunnel
        _udp_tunnel("10.0.0.2", "10.0.0.3", 40008, 6081, geneve(7003, syn[14:], proto=0x0800)),  # IP, no Ethernet
        _udp_tunnel("10.0.0.2", "10.0.0.3", 40009, 6081, geneve(7004, syn, version=1)),
        _outer4("10.0.0.9", "10.0.0.1", 1, icmp(3, 3, bytes(4), quoted)),  # an ICMP error quoting a VXLAN packet
        # plain traffic beside the tunnels
        _tenant_tcp("10.0.0.1", "10.0.0.2", 51000, 80, 0x02, smac=HOST_A, dmac=HOST_B),
        _udp_tunnel("10.0.0.1", "10.0.0.2", 53001, 53, struct.pack("!HHHHHH", 2, 0x0100, 0, 0, 0, 0)),
    ]


SEEN_THROUGH = 10  # the first frames: tunnels the vectorised classifier sees through
#: the dissectors see through these too (the tunnel in a tunnel: its outer one; Geneve carrying IP;
#: Geneve of another version, read as version 0 as Wireshark does)
SEEN_BY_DISSECTORS = (11, 12, 13)


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tunnels") / "tunnels.pcap"
    write_pcap(path, 1, tunnel_trace_frames())
    return path


def _resolved(trace, eth: int, ip: int, l4: int, dirflags: int) -> tuple:
    """A row's conversations by their contents (ids depend on the order they were interned)."""
    e, i, t = trace.eth_conversations, trace.ip_conversations, trace.l4_conversations
    tid = e.parent[eth]
    out: tuple = ((e.a[eth], e.b[eth]), (i.proto[ip], i.a[ip], i.b[ip]), (t.proto[l4], t.a[l4], t.b[l4]), dirflags)
    if tid:
        tun = trace.tunnel_conversations
        oeth, ol4 = tunnel_table.outer_parts(tun.b[tid])
        oip = tun.parent[tid]
        out += ((tun.proto[tid], tun.a[tid]), (e.a[oeth], e.b[oeth]), (i.a[oip], i.b[oip]), (t.a[ol4], t.b[ol4]))
    return out


def test_fast_path_agrees_with_dissectors(trace_path: Path) -> None:
    _assert_fast_path_agrees(trace_path)


def test_fast_path_agrees_on_mutated_tunnel_frames(tmp_path: Path) -> None:
    """Damaged tunnel headers, tenant headers and lengths: the vectorised classifier either gives
    the dissectors' columns or leaves the frame to them."""
    rnd = random.Random(4789)
    frames = tunnel_trace_frames()
    # every byte from the outer transport header to the tenant's IP header, set to a few values
    mutants = [data[:at] + bytes([value]) + data[at + 1 :] for data in frames[:SEEN_THROUGH]
               for at in range(30, min(len(data), 80)) for value in (0, 0xFF, data[at] ^ 1, data[at] ^ 0x40)]
    for _ in range(600):
        data = bytearray(frames[rnd.randrange(len(frames))])
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(min(len(data), 110))  # the outer headers, the tunnel's and the tenant's
            data[at] = rnd.choice((0, 0xFF, data[at] ^ (1 << rnd.randrange(8)), rnd.randrange(256)))
        if rnd.random() < 0.2:
            del data[rnd.randrange(14, len(data)) :]
        mutants.append(bytes(data))
    path = tmp_path / "mutants.pcap"
    write_pcap(path, 1, mutants)
    _assert_fast_path_agrees(path)


def _assert_fast_path_agrees(trace_path: Path) -> None:
    fast = open_trace(trace_path, use_cache=False)
    slow = open_trace(trace_path, load=False, use_cache=False)
    batch = {k: v.copy() for k, v in fast.index.columns().items()}
    for col in ("protos", "top", "tcpflags", "dirflags", "eth_conv", "ip_conv", "l4_conv"):
        batch[col][:] = 0
    rows = np.flatnonzero(batch["kind"] & KIND_PACKET)
    u8 = np.frombuffer(fast.buf, dtype=np.uint8)
    offs = fast.reader.packet_offsets(np.arange(len(fast)))
    classify_scalar(slow, u8, batch, np.ones(len(fast), dtype=np.int64), rows, offs)
    for col in ("protos", "top", "tcpflags"):
        np.testing.assert_array_equal(fast.index.column(col), batch[col], err_msg=col)
    idx = fast.index
    for r in rows.tolist():
        ours = _resolved(fast, int(idx.eth_conv[r]), int(idx.ip_conv[r]), int(idx.l4_conv[r]), int(idx.dirflags[r]))
        ref = _resolved(slow, int(batch["eth_conv"][r]), int(batch["ip_conv"][r]), int(batch["l4_conv"][r]),
                        int(batch["dirflags"][r]))
        assert ours == ref, f"frame {r + 1}"


def test_tunnel_frames_are_indexed_by_their_tenant(trace_path: Path) -> None:
    trace = open_trace(trace_path, use_cache=False)
    tids = tunnel_table.frame_tunnels(trace, trace.index.eth_conv)
    seen = [*range(SEEN_THROUGH), *SEEN_BY_DISSECTORS]
    assert list(np.flatnonzero(tids)) == seen
    tun = trace.tunnel_conversations
    assert [(tun.proto[t], tun.a[t]) for t in tids[:SEEN_THROUGH]] == [
        *[(CODE["VXLAN"], n) for n in (5001, 5001, 5001, 5002, 5001, 5001)], (CODE["NVGRE"], 6001),
        (CODE["NVGRE"], 6001), (CODE["Geneve"], 7001), (CODE["Geneve"], 7002)]
    ip = trace.ip_conversations
    # the same tenant pair in VNI 5001 and 5002 is two conversations
    assert ip.a[trace.index.ip_conv[0]] == ip.a[trace.index.ip_conv[3]]
    assert trace.index.ip_conv[0] != trace.index.ip_conv[3]
    # the Source/Destination columns show the tenant, as Netmon and Wireshark do
    frame = trace.frame(0)
    assert (frame.source, frame.destination) == ("192.168.1.10", "192.168.1.20")
    assert trace.frame(5).protocol_name == "ARP"


def _tshark_frames(path: Path, display_filter: str) -> list[int]:
    import subprocess

    out = subprocess.run([require_tshark(), "-n", "-r", str(path), *TSHARK_PREFS, "-Y", display_filter, "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True, timeout=120).stdout
    return [int(x) for x in out.split()]


PAIRS = [
    ("IPv4.Address == 192.168.1.10", "ip.addr == 192.168.1.10"),
    ("IPv4.SourceAddress == 192.168.1.20", "ip.src == 192.168.1.20"),
    ("IPv4.DestinationAddress == 10.0.0.3", "ip.dst == 10.0.0.3"),
    ("IPv4.Address == 10.0.0.1", "ip.addr == 10.0.0.1"),
    ("IPv4.Address == 172.16.0.2", "ip.addr == 172.16.0.2"),
    ("IPv4.Address == 192.168.1.10 AND TCP.Port == 80", "ip.addr == 192.168.1.10 && tcp.port == 80"),
    ("TCP.Port == 443", "tcp.port == 443"),
    ("TCP.Flags.Syn == 1", "tcp.flags.syn == 1"),
    ("UDP.Port == 4789", "udp.port == 4789"),
    ("UDP.Port == 53", "udp.port == 53"),
    ("UDP.SrcPort == 40004", "udp.srcport == 40004"),
    ("IPv6.Address == fd10::10", "ipv6.addr == fd10::10"),
    ("IPv6.Address == fd00::2", "ipv6.addr == fd00::2"),
    ("Ethernet.Address == 00-15-5D-01-01-01", "eth.addr == 00:15:5d:01:01:01"),
    ("Ethernet.SourceAddress == 00-1D-D8-B7-1C-03", "eth.src == 00:1d:d8:b7:1c:03"),
    ("VXLAN.VNI == 5001", "vxlan.vni == 5001"),
    ("VXLAN.VNI == 5005", "vxlan.vni == 5005"),
    ("Geneve.VNI == 7001", "geneve.vni == 7001"),
    ("NVGRE.VirtualSubnetID == 6001", "gre.key & 0xffffff00 == 0x00177100"),
    ("NVGRE.VSID == 6001 AND IPv4.Address == 192.168.1.20", "gre.key & 0xffffff00 == 0x00177100 && ip.addr == 192.168.1.20"),
    ("VXLAN OR NVGRE OR Geneve", "vxlan or gre.key or geneve"),
    ("VXLAN.VNI", "vxlan.vni"),
    ("Geneve.VNI > 7001", "geneve.vni > 7001"),
    ("ARP", "arp"),
    ("!(IPv4.Address == 10.0.0.2)", "!(ip.addr == 10.0.0.2)"),
]


@pytest.mark.tshark
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0] for p in PAIRS])
def test_filters_select_tsharks_frames_from_the_index(trace_path: Path, ours: str, theirs: str) -> None:
    trace = open_trace(trace_path, use_cache=False)
    cf = compile_filter(ours, trace=trace)
    hits = cf.evaluate(trace)
    assert list(np.flatnonzero(hits) + 1) == _tshark_frames(trace_path, theirs)
    # the frames seen through are answered from the index: none of them is decoded
    tri = cf.root.vec(Chunk(trace, state_for(trace), 0, len(trace)))
    assert tri is not None and tri.known[:SEEN_THROUGH].all(), ours
    np.testing.assert_array_equal(hits, cf.evaluate_by_decoding(trace))


def test_conversation_tree_shows_tenants_under_their_network(trace_path: Path) -> None:
    trace = open_trace(trace_path, use_cache=False)
    top = {s.label: s for s in conversations.children(trace, conversations.root(trace))}
    assert top["Tunnels"].count == SEEN_THROUGH + len(SEEN_BY_DISSECTORS)
    nets = {s.label: s for s in conversations.children(trace, top["Tunnels"])}
    assert {k: s.count for k, s in nets.items()} == {"VXLAN VNI 5001": 5, "VXLAN VNI 5002": 1, "NVGRE VSID 6001": 2,
                                                     "Geneve VNI 7001": 1, "Geneve VNI 7002": 1,
                                                     "VXLAN VNI 5004": 1, "Geneve VNI 7003": 1, "Geneve VNI 7004": 1}
    pairs = {s.label: s for s in conversations.children(trace, nets["VXLAN VNI 5001"])}
    assert {k: s.count for k, s in pairs.items()} == {"192.168.1.10 ↔ 192.168.1.20": 3, "192.168.2.1 ↔ 192.168.2.5": 1,
                                                      "Other (no IP)": 1}
    ports = conversations.children(trace, pairs["192.168.1.10 ↔ 192.168.1.20"])
    assert [(s.label, s.count) for s in ports] == [("TCP 50000 ↔ 80", 3)]
    assert list(np.flatnonzero(conversations.mask(trace, ports[0])) + 1) == [1, 2, 3]
    # each node's filter selects its frames (the tenant's network named, as other VNIs reuse the pair),
    # and also the ICMP error that quotes a packet of VNI 5001 (any instance matches, as in tshark)
    for node in (ports[0], nets["VXLAN VNI 5001"], nets["NVGRE VSID 6001"]):
        hits = compile_filter(node.filter, trace=trace).evaluate(trace)
        node_rows = conversations.mask(trace, node)
        assert not (node_rows & ~hits).any(), node.filter
        assert list(np.flatnonzero(hits & ~node_rows) + 1) == ([] if "NVGRE" in node.filter else [15]), node.filter
    assert ports[0].filter.endswith("AND VXLAN.VNI == 5001")
    assert list(np.flatnonzero(conversations.mask(trace, pairs["Other (no IP)"])) + 1) == [6]
    assert list(np.flatnonzero(conversations.mask(trace, nets["NVGRE VSID 6001"])) + 1) == [7, 8]
    # tenants are not repeated among the host's own address pairs
    v4 = next(s for s in conversations.children(trace, conversations.root(trace)) if s.label == "IPv4")
    labels = [s.label for s in conversations.children(trace, v4)]
    assert "192.168.1.10 ↔ 192.168.1.20" not in labels and "10.0.0.1 ↔ 10.0.0.2" in labels


def test_tunnel_entries_survive_the_index_cache(trace_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    first = open_trace(trace_path)
    want = compile_filter("IPv4.Address == 10.0.0.3 AND VXLAN.VNI == 5001", trace=first).evaluate(first)
    again = open_trace(trace_path)
    assert again.from_cache
    assert len(again.tunnel_conversations) == len(first.tunnel_conversations) > 0
    got = compile_filter("IPv4.Address == 10.0.0.3 AND VXLAN.VNI == 5001", trace=again).evaluate(again)
    assert list(np.flatnonzero(got) + 1) == list(np.flatnonzero(want) + 1) == [5]


def test_stats_name_the_network_of_tenant_conversations(trace_path: Path) -> None:
    from tracemon.traces.stats import trace_stats

    stats = trace_stats(open_trace(trace_path, use_cache=False))
    tenant = [(c["a"], c["b"], c["frames"], c["network"]) for c in stats["ip_conversations"] if c["network"]]
    assert ("192.168.1.10", "192.168.1.20", 3, "VXLAN VNI 5001") in tenant
    assert ("192.168.1.10", "192.168.1.20", 2, "NVGRE VSID 6001") in tenant
    ports = {(c["a"], c["b"]): c["network"] for c in stats["l4_conversations"]}
    assert ports[("TCP 192.168.1.10:50001", "TCP 192.168.1.20:443")] == "VXLAN VNI 5002"
    assert ports[("UDP 10.0.0.1:53001", "UDP 10.0.0.2:53")] == ""
