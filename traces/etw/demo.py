"""The built-in demo trace: what ``tracemon`` opens when given no file.

A small Hyper-V story written with the test writer (deterministic, a few thousand events): one
external vSwitch, two VMs (web01, db01) with their ports and NICs, then ARP, a DNS lookup, a TCP
session with data, an ARP storm from a misbehaving host on the physical network, a few
VM_NBL_INCOMING_DROP drops, and a VM shutting down (port disconnected and deleted).  Every
packet appears as VmSwitch NBL datapath events (receive → route → deliver, sharing the NBL's
BufferAddress) plus an NDIS-PacketCapture copy (1003 at the VM's port, 1001 on the physical NIC).

The file is generated once into the user cache dir and regenerated when ``GENERATOR_VERSION``
changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..craft import arp, dns_answer, dns_query, ethernet, ipv4, tcp, udp
from . import writer as W

GENERATOR_VERSION = 1

START_NS = 1_718_000_000_000_000_000  # 2024-06-10 06:13:20 UTC
SWITCH = ("9F0C5A3E-7B21-4D6C-8E14-2A7B5C9D1E03", "External vSwitch")
EXT_PORT = ("5C7E2B14-0A9D-4F3B-B6E1-8D2C4A7F9E10", "External port")
EXT_NIC = ("{B1E8F3A0-6C2D-4E57-9A14-3F0D7C2B5E68}", "Intel(R) Ethernet Controller X710")
VMS = {
    "web01": ("6A1D3C5E-2B4F-4A8D-9C0E-1F2A3B4C5D6E", "00155D01020B", "10.0.0.11", 0xC1),
    "db01": ("7B2E4D6F-3C50-4B9E-AD1F-203B4C5D6E7F", "00155D01020C", "10.0.0.12", 0xC2),
}
GATEWAY = ("00155D0102FE", "10.0.0.1")
ROGUE = ("02004C4F4F50", "10.0.0.99")
MINIPORT = 7  # ifIndex of the physical NIC
PID_SYSTEM = 4


def demo_path() -> Path:
    import platformdirs

    root = Path(os.environ.get("TRACEMON_DEMO_DIR") or platformdirs.user_cache_dir("tracemon", appauthor=False))
    return root / "demo" / f"hyperv-demo-v{GENERATOR_VERSION}.etl"


def demo_trace_path() -> Path:
    """The demo trace, generated on first use (and after a generator change)."""
    path = demo_path()
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".demo-", suffix=".etl", dir=path.parent)
    os.close(fd)
    try:
        write_demo(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# -- the story ----------------------------------------------------------------------------------------
class _Story:
    def __init__(self, w: W.EtlWriter) -> None:
        self.w = w
        self.t = START_NS + 5_000_000
        self.nbl = 0xFFFFC30F_4A200000
        self.ident = 0x3A10
        self.nics = {name: (f"{vid}--{i + 1:X}A1B2C3D-0000-4000-8000-00155D0102{mac[-2:]}", f"{name} Network Adapter")
                     for i, (name, (vid, mac, _ip, _port)) in enumerate(VMS.items())}
        self.ports = {name: (f"{vid[:8]}-PORT-{port:04X}", "Dynamic Ethernet Switch Port")
                      for name, (vid, _mac, _ip, port) in VMS.items()}

    def tick(self, ns: int) -> int:
        self.t += ns
        return self.t

    def lifecycle(self) -> None:
        w = self.w
        W.vms_switch(w, 9, SWITCH, flags=1, owner=2, ts_ns=self.tick(1000), pid=PID_SYSTEM, tid=0x1A4)
        W.vms_port(w, 67, EXT_PORT, SWITCH, ts_ns=self.tick(40_000), pid=PID_SYSTEM, tid=0x1A4)
        W.vms_nic_port(w, 232, EXT_NIC, EXT_PORT, SWITCH, ts_ns=self.tick(30_000), pid=PID_SYSTEM, tid=0x1A4)
        for name, (vid, _mac, _ip, _port) in VMS.items():
            W.vms_vm(w, name, vid, ts_ns=self.tick(2_000_000), pid=0x0F3C, tid=0x2210)
            W.vms_port(w, 67, self.ports[name], SWITCH, ts_ns=self.tick(150_000), pid=0x0F3C, tid=0x2210)
            W.vms_nic_port(w, 232, self.nics[name], self.ports[name], SWITCH, ts_ns=self.tick(80_000), pid=0x0F3C,
                           tid=0x2210)

    def packet(self, frame: bytes, src: str, dst: str | None, cpu: int = 0) -> None:
        """One frame through the switch: receive at ``src``, route to ``dst`` (None = flood), deliver."""
        w = self.w
        self.nbl += 0x1F0
        addr = self.nbl
        t = self.tick(120_000)
        kw = {"cpu": cpu, "pid": PID_SYSTEM, "tid": 0x7C + cpu}
        src_nic = EXT_NIC if src == "external" else self.nics[src]
        if src == "external":
            W.ndis_packet(w, frame, miniport=MINIPORT, lower=MINIPORT, send=False, ts_ns=t, **kw)
        else:
            _vid, _mac, _ip, port = VMS[src]
            W.ndis_vmswitch_packet(w, frame, miniport=MINIPORT, lower=MINIPORT + 10, port_id=port,
                                   port_name=self.ports[src][0], nic_name=src_nic[0], nic_type="Synthetic",
                                   send=True, destinations=[], ts_ns=t, **kw)
        W.vms_nbl(w, W.VM_NBL_RECEIVE, src_nic, SWITCH, addr, ts_ns=t + 1_500, **kw)
        targets = [dst] if dst else [n for n in [*VMS, "external"] if n != src]
        for k, target in enumerate(targets):
            dst_nic = EXT_NIC if target == "external" else self.nics[target]
            W.vms_route(w, src_nic, dst_nic, SWITCH, addr, ts_ns=t + 3_000 + 900 * k, **kw)
        for k, target in enumerate(targets):
            dst_nic = EXT_NIC if target == "external" else self.nics[target]
            W.vms_nbl(w, W.VM_NBL_DELIVER, dst_nic, SWITCH, addr, ts_ns=t + 6_000 + 700 * k, **kw)
            if target == "external":
                W.ndis_packet(w, frame, miniport=MINIPORT, lower=MINIPORT, send=True, ts_ns=t + 8_000, **kw)

    def ident_next(self) -> int:
        self.ident += 1
        return self.ident

    def traffic(self) -> None:
        web_mac, web_ip = VMS["web01"][1], VMS["web01"][2]
        db_mac, db_ip = VMS["db01"][1], VMS["db01"][2]
        gw_mac, gw_ip = GATEWAY
        bcast = "FFFFFFFFFFFF"
        # web01 resolves the gateway and db01
        self.tick(50_000_000)
        self.packet(ethernet(web_mac, bcast, 0x0806, arp(1, web_mac, web_ip, "000000000000", gw_ip)), "web01", None)
        self.packet(ethernet(gw_mac, web_mac, 0x0806, arp(2, gw_mac, gw_ip, web_mac, web_ip)), "external", "web01")
        name = "db01.corp.contoso.com"
        q = dns_query(0x5A31, name)
        self.packet(ethernet(web_mac, gw_mac, 0x0800, ipv4(web_ip, gw_ip, 17, udp(web_ip, gw_ip, 61853, 53, q),
                                                            self.ident_next())), "web01", "external")
        self.tick(4_000_000)
        r = dns_answer(0x5A31, name, db_ip)
        self.packet(ethernet(gw_mac, web_mac, 0x0800, ipv4(gw_ip, web_ip, 17, udp(gw_ip, web_ip, 53, 61853, r),
                                                            self.ident_next())), "external", "web01")
        self.packet(ethernet(web_mac, bcast, 0x0806, arp(1, web_mac, web_ip, "000000000000", db_ip)), "web01", None)
        self.packet(ethernet(db_mac, web_mac, 0x0806, arp(2, db_mac, db_ip, web_mac, web_ip)), "db01", "web01", cpu=1)
        # a TCP session web01:49720 → db01:1433 with a request and a response
        sp, dp = 49720, 1433
        cs, ss = 0x1C0FFEE0, 0x5EED0000

        def seg(frm: str, seq: int, ack: int, flags: int, data: bytes = b"") -> None:
            if frm == "web01":
                p = tcp(web_ip, db_ip, sp, dp, seq, ack, flags, data)
                self.packet(ethernet(web_mac, db_mac, 0x0800, ipv4(web_ip, db_ip, 6, p, self.ident_next())),
                            "web01", "db01")
            else:
                p = tcp(db_ip, web_ip, dp, sp, seq, ack, flags, data)
                self.packet(ethernet(db_mac, web_mac, 0x0800, ipv4(db_ip, web_ip, 6, p, self.ident_next())),
                            "db01", "web01", cpu=1)

        seg("web01", cs, 0, 0x02)
        seg("db01", ss, cs + 1, 0x12)
        seg("web01", cs + 1, ss + 1, 0x10)
        request = b"\x12\x01\x00\x2f\x00\x00\x01\x00" + b"SELECT name, price FROM products WHERE id = 42;"
        seg("web01", cs + 1, ss + 1, 0x18, request)
        c = cs + 1 + len(request)
        s = ss + 1
        for k in range(6):
            chunk = bytes((k * 37 + j) & 0xFF for j in range(1200))
            seg("db01", s, c, 0x10 if k < 5 else 0x18, chunk)
            s += len(chunk)
            if k % 2:
                seg("web01", c, s, 0x10)
        seg("web01", c, s, 0x11)
        seg("db01", s, c + 1, 0x11)
        seg("web01", c + 1, s + 1, 0x10)

    def arp_storm(self) -> None:
        """A host on the physical network sweeps the subnet: 400 broadcasts in about 0.2 s."""
        rogue_mac, rogue_ip = ROGUE
        self.tick(300_000_000)
        for k in range(400):
            target = f"10.0.{(k // 250)}.{(k % 250) + 2}"
            frame = ethernet(rogue_mac, "FFFFFFFFFFFF", 0x0806, arp(1, rogue_mac, rogue_ip, "000000000000", target))
            self.packet(frame, "external", None, cpu=k % 2)
            self.tick(380_000)  # ~0.5 ms apart

    def drops(self) -> None:
        """db01's NIC drops inbound NBLs while its receive buffers are exhausted."""
        w = self.w
        db_mac, db_ip = VMS["db01"][1], VMS["db01"][2]
        for k in range(5):
            t = self.tick(7_000_000)
            W.vms_drop(w, W.VM_NBL_INCOMING_DROP, self.nics["db01"], SWITCH, 0xC000009A if k < 4 else 0xC0000120,
                       ts_ns=t, cpu=1, pid=PID_SYSTEM, tid=0x7D)
        frame = ethernet(GATEWAY[0], db_mac, 0x0800, ipv4(GATEWAY[1], db_ip, 17,
                                                          udp(GATEWAY[1], db_ip, 123, 123, bytes(48)),
                                                          self.ident_next()))
        self.packet(frame, "external", "db01")

    def shutdown(self) -> None:
        w = self.w
        t = self.tick(900_000_000)
        W.vms_nic_port(w, 17, self.nics["web01"], self.ports["web01"], SWITCH, ts_ns=t, pid=0x0F3C, tid=0x2210)
        W.vms_port(w, 69, self.ports["web01"], SWITCH, ts_ns=self.tick(60_000), pid=0x0F3C, tid=0x2210)
        W.vms_port(w, 71, self.ports["web01"], SWITCH, ts_ns=self.tick(60_000), pid=0x0F3C, tid=0x2210)


def write_demo(path: str | os.PathLike[str]) -> None:
    """Write the demo trace to ``path`` (the same bytes every time)."""
    with W.EtlWriter(path, cpus=2, buffer_size=64 * 1024, compressed=True, start_ns=START_NS,
                     logger_name="NetTrace", build=20348,
                     log_file_name=r"C:\Users\admin\AppData\Local\Temp\NetTraces\NetTrace.etl") as w:
        story = _Story(w)
        story.lifecycle()
        story.traffic()
        story.arp_storm()
        story.drops()
        story.traffic()
        story.shutdown()
