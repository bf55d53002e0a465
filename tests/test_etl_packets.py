"""Packets inside ETW events, checked against Microsoft's own `pktmon format` text and the sample notes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
from conftest import sample
from tracemon.traces import open_trace
from tracemon.traces.frame import ipv4_text, ipv6_text, mac_text
from tracemon.traces.index import DIR_RECEIVE, DIR_SEND, KIND_PACKET

LINE = re.compile(
    r"^\[(?P<cpu>\d+)\](?P<pid>[0-9A-F]+)\.(?P<tid>[0-9A-F]+)::(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}) "
    r"\[Microsoft-Windows-PktMon\] PktGroupId (?P<group>\d+), PktNumber (?P<num>\d+), Appearance (?P<app>\d+), "
    r"Direction (?P<dir>\w+) , Type (?P<type>\w+) , Component (?P<comp>\d+), Edge (?P<edge>\d+), "
    r"Filter (?P<filter>\d+), OriginalSize (?P<orig>\d+), LoggedSize (?P<logged>\d+)")
ETH = re.compile(r"^\t(?P<src>[0-9A-F-]{17}) > (?P<dst>[0-9A-F-]{17}), ethertype")
_V4 = r"\d+\.\d+\.\d+\.\d+"
_V6 = r"[0-9a-f]*:[0-9a-f:]+"
IP_PORTS = re.compile(rf"ethertype IPv[46] \(0x[0-9a-f]+\), length \d+: (?P<src>{_V4}|{_V6})\.(?P<sport>\d+) > "
                      rf"(?P<dst>{_V4}|{_V6})\.(?P<dport>\d+): ")
HEADER = re.compile(r"::(?P<time>\S+ \S+) \[MSNT_SystemTrace\] Event: Header,.* StartTime: (?P<start>\d+),")


@dataclass
class TextPacket:
    ts_ns: int
    group: int
    appearance: int
    direction: str
    ptype: str
    component: int
    original: int
    logged: int
    pid: int
    tid: int
    src_mac: str | None = None
    dst_mac: str | None = None
    ip: tuple[str, int, str, int] | None = None
    #: pktmon could not parse the Wi-Fi-typed frame ("unknown 802.11 frame type (3)"): it is
    #: Ethernet II that PktMon mislabels, and we read it as Ethernet (packets.wifi_is_ethernet)
    mislabelled: bool = False

    @property
    def link(self) -> int:
        return 1 if self.ptype == "Ethernet" or self.mislabelled else 105


def _local_ns(text: str) -> int:
    day, frac = text.split(".")
    t = dt.datetime.strptime(day, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000 + int(frac)


def _pktmon_text() -> list[TextPacket]:
    raw = sample("etl/pktmon_vpn_20210601.pktmon-format.utf16.txt").read_bytes().decode("utf-16")
    lines = raw.splitlines()
    m = HEADER.search(lines[0])
    assert m, "no header line in the pktmon text"
    # pktmon prints local time: the header event's printed time vs its UTC StartTime gives the zone
    start_utc = (int(m["start"]) - 116444736000000000) * 100
    offset = _local_ns(m["time"]) - start_utc
    out: list[TextPacket] = []
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m:
            continue
        p = TextPacket(_local_ns(m["time"]) - offset, int(m["group"]), int(m["app"]), m["dir"], m["type"],
                       int(m["comp"]), int(m["orig"]), int(m["logged"]), int(m["pid"], 16), int(m["tid"], 16))
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        p.mislabelled = "unknown 802.11 frame type (3)" in nxt
        e = ETH.match(nxt)
        if e:
            p.src_mac, p.dst_mac = e["src"], e["dst"]
        ip = IP_PORTS.search(nxt)
        if ip:
            p.ip = (ip["src"], int(ip["sport"]), ip["dst"], int(ip["dport"]))
        out.append(p)
    return out


def _addr(v: int | None, fam: int) -> str | None:
    if v is None:
        return None
    return ipv4_text(v) if fam == 4 else ipv6_text(v)


def test_pktmon_packets_match_pktmon_format_text() -> None:
    text = _pktmon_text()
    assert len(text) == 3646
    with open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False) as tr:
        rows = np.flatnonzero(tr.index.kind & KIND_PACKET)
        assert len(rows) == len(text)
        frames = [tr.frame(int(r)) for r in rows]
    ours = sorted(frames, key=lambda f: (f.timestamp_ns, f.meta["PktGroupId"], f.meta["AppearanceCount"]))
    theirs = sorted(text, key=lambda p: (p.ts_ns, p.group, p.appearance))
    checked_ip = checked_mac = 0
    for f, p in zip(ours, theirs, strict=True):
        where = f"frame {f.number} vs PktGroupId {p.group} appearance {p.appearance}"
        assert f.timestamp_ns == p.ts_ns, where
        assert (f.meta["PktGroupId"], f.meta["AppearanceCount"]) == (p.group, p.appearance), where
        assert f.meta["Direction"] == p.direction, where
        assert f.meta["PacketType"] == p.ptype, where
        assert f.meta["ComponentId"] == p.component, where
        assert (f.original_length, f.captured_length) == (p.original, p.logged), where
        assert (f.process_id, f.thread_id) == (p.pid, p.tid), where
        assert f.link_type == p.link, where
        if p.src_mac is not None:
            assert mac_text(f.first("Ethernet.SourceAddress")) == p.src_mac, where
            assert mac_text(f.first("Ethernet.DestinationAddress")) == p.dst_mac, where
            checked_mac += 1
        if p.ip is not None:
            fam = 4 if f.layer("IPv4") is not None else 6
            l4 = "TCP" if f.layer("TCP") is not None else "UDP"
            got = (_addr(f.first(f"IPv{fam}.SourceAddress"), fam), f.first(f"{l4}.SrcPort"),
                   _addr(f.first(f"IPv{fam}.DestinationAddress"), fam), f.first(f"{l4}.DstPort"))
            assert got == p.ip, where
            checked_ip += 1
    assert checked_mac > 1000 and checked_ip > 1000
    mislabelled = [p for p in text if p.mislabelled]
    assert len(mislabelled) == 95 and {p.component for p in mislabelled} == {31}  # pacer.sys


def test_pktmon_direction_and_interfaces_in_the_index() -> None:
    text = _pktmon_text()
    with open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False) as tr:
        idx = tr.index
        pk = (idx.kind & KIND_PACKET) != 0
        assert int(np.count_nonzero(pk & ((idx.dirflags & DIR_RECEIVE) != 0))) == sum(p.direction == "Rx" for p in text)
        assert int(np.count_nonzero(pk & ((idx.dirflags & DIR_SEND) != 0))) == sum(p.direction == "Tx" for p in text)
        comps = {(p.component, p.link) for p in text}
        assert len(tr.interfaces) == len(comps)
        names = {i.options["ComponentId"]: i.name for i in tr.interfaces}
        # component names come from PktMon event 20 (the rundown at the end of the capture)
        raw = sample("etl/pktmon_vpn_20210601.pktmon-format.utf16.txt").read_bytes().decode("utf-16")
        named = dict(re.findall(r"\] Component (\d+), Type [^,]*, Name ([^,]+),", raw))
        for cid, name in names.items():
            if str(cid) in named:
                assert name == named[str(cid)].strip()


def test_ndis_wifi_packet_is_an_80211_frame() -> None:
    with open_trace(sample("etl/netsh_ndis_wifi_1pkt.etl"), use_cache=False) as tr:
        rows = np.flatnonzero(tr.index.kind & KIND_PACKET)
        assert len(rows) == 1
        f = tr.frame(int(rows[0]))
        assert f.link_type == 105
        assert tr.interfaces[f.interface].name == "wifi:8"
        assert f.captured_length == 197
        assert f.meta["Direction"] == "Outbound"  # keyword 0x…0001… = SendPath
        assert int(tr.index.dirflags[rows[0]]) & DIR_SEND
        assert f.layers[1].name == "NetEvent"
        assert ipv4_text(f.first("IPv4.SourceAddress")) == "192.168.1.2"
        assert ipv4_text(f.first("IPv4.DestinationAddress")) == "239.255.255.250"
        assert (f.first("UDP.SrcPort"), f.first("UDP.DstPort")) == (60210, 1900)
        assert tr.raw(int(rows[0])) == f.data


def test_demikernel_first_packet_is_icmp() -> None:
    with open_trace(sample("etl/pktmon_demikernel.etl"), use_cache=False) as tr:
        rows = np.flatnonzero(tr.index.kind & KIND_PACKET)
        assert len(rows) == 114
        f = tr.frame(int(rows[0]))
        assert f.link_type == 1
        assert f.layer("ICMP") is not None
        assert ipv4_text(f.first("IPv4.SourceAddress")) == "10.9.1.14"
        assert ipv4_text(f.first("IPv4.DestinationAddress")) == "10.9.1.22"
