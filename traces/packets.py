"""What all packet readers share: decoding a row into a Frame, and the index row of a frame.

``index_keys`` is the *definition* of the per-frame index columns for packets (protocol mask,
Protocol Name code, TCP flags, conversations and direction); the vectorised classifier
(``classify.py``) is a faster way to compute the same thing for common frames and is tested to
agree with it on every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dissect as _dissect
from . import tunnels as _tunnels
from .convmemory import history_for
from .dissect.core import LINK_TYPE_NAMES
from .fields import REGISTRY, FieldType
from .fixedfields import layer_offsets
from .frame import Frame, Layer
from .index import DIR_ETH_REVERSED, DIR_IP_REVERSED, DIR_L4_REVERSED, OUTER_SHIFT
from .protocols import CODE, FLAGS, MASK
from .trace import Reader

if TYPE_CHECKING:
    from .trace import Trace

FRAME = REGISTRY.protocol("Frame", "The captured frame: number, time, lengths, interface")
FRAME_NUMBER = REGISTRY.define("Frame.FrameNumber", FieldType.UINT, "Frame number (1-based, as in the list)")
FRAME_TIME = REGISTRY.define("Frame.TimeStamp", FieldType.TIME, "Capture time (UTC)")
FRAME_CAPLEN = REGISTRY.define("Frame.CapturedFrameLength", FieldType.UINT, "Bytes captured")
FRAME_ORIGLEN = REGISTRY.define("Frame.FrameLength", FieldType.UINT, "Bytes on the wire")
FRAME_MEDIA = REGISTRY.define("Frame.MediaType", FieldType.UINT, "pcap link type of the frame")
FRAME_IFACE = REGISTRY.define("Frame.Interface", FieldType.UINT, "Capture interface number")
FRAME_IFACE_NAME = REGISTRY.define("Frame.Interface.Name", FieldType.STRING,
                                   "Capture interface name (pcapng if_name)")
FRAME_IFACE_DESCRIPTION = REGISTRY.define("Frame.Interface.Description", FieldType.STRING,
                                          "Capture interface description (pcapng if_description)")
FRAME_COMMENT = REGISTRY.define("Frame.Comment", FieldType.STRING,
                                "Comment stored with the frame (pcapng opt_comment, Netmon \"Title: text\")")
FRAME_DIRECTION = REGISTRY.define("Frame.Direction", FieldType.STRING, "Inbound / Outbound when the capture says")


@dataclass(slots=True)
class RecordMeta:
    """Reader facts about one record that the index does not keep."""

    original_length: int
    comments: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    direction: str = ""
    #: why the record has no timestamp of its own ("simple packet block"); "" when it has one
    no_timestamp: str = ""


class PacketReader(Reader):
    """A reader whose rows are packets stored contiguously in the file at ``loc``."""

    def record_meta(self, i: int, loc: int, length: int) -> RecordMeta:
        return RecordMeta(length)

    def packet_offsets(self, rows: np.ndarray) -> np.ndarray | None:
        return self.trace.index.loc[rows].astype(np.int64)

    def raw(self, i: int) -> bytes:
        idx = self.trace.index
        loc = int(idx.loc[i])
        return bytes(self.buf[loc : loc + int(idx.length[i])])

    def frame(self, i: int) -> Frame:
        idx = self.trace.index
        loc = int(idx.loc[i])
        length = int(idx.length[i])
        iface_no = int(idx.iface[i])
        data = bytes(self.buf[loc : loc + length])
        iface = self.trace.interfaces[iface_no] if iface_no < len(self.trace.interfaces) else None
        link = iface.link_type if iface is not None else -1
        meta = self.record_meta(i, loc, length)
        return build_packet_frame(self.trace, i, int(idx.ts[i]), data, link, iface_no, meta)


def build_packet_frame(trace: Trace, i: int, ts: int, data: bytes, link: int, iface_no: int,
                       meta: RecordMeta, extra_layers: list[Layer] | None = None) -> Frame:
    ctx = _dissect.dissect(data, link, trace.registry, history_for(trace, i), i)
    top = Layer(FRAME, "", 0, len(data))
    top.add(FRAME_NUMBER, i + 1)
    if meta.no_timestamp:  # the index repeats the previous time to keep the order; that is not this frame's
        top.add(None, None, display=f"(none: {meta.no_timestamp})", label="TimeStamp")
    else:
        top.add(FRAME_TIME, ts, display=format_time(ts))
    top.add(FRAME_CAPLEN, len(data))
    top.add(FRAME_ORIGLEN, meta.original_length)
    top.add(FRAME_MEDIA, link, display=f"{link} ({LINK_TYPE_NAMES.get(link, 'unknown')})")
    add_interface(top, trace, iface_no)
    if meta.direction:
        top.add(FRAME_DIRECTION, meta.direction)
    add_comments(top, meta.comments)
    for k, v in meta.options.items():
        top.add(None, v, display=str(v), label=k)
    media = LINK_TYPE_NAMES.get(link, f"link type {link}")
    top.summary = f"Number = {i + 1}, Captured Frame Length = {len(data)}, MediaType = {media}"
    layers = [top, *(extra_layers or []), *ctx.layers]
    return Frame(
        index=i,
        timestamp_ns=ts,
        data=data,
        layers=layers,
        captured_length=len(data),
        original_length=meta.original_length,
        interface=iface_no,
        link_type=link,
        kind="packet",
        source=ctx.source,
        destination=ctx.destination,
        protocol_name=ctx.protocol_name,
        description=ctx.description,
        comments=list(meta.comments),
        meta={**meta.options, "no_timestamp": meta.no_timestamp} if meta.no_timestamp else dict(meta.options),
        registry=trace.registry,
    )


def add_interface(top: Layer, trace: Trace, iface_no: int) -> None:
    """The Interface node: its number, with the name and description the capture gave it."""
    iface = trace.interfaces[iface_no] if 0 <= iface_no < len(trace.interfaces) else None
    name = iface.name if iface is not None else ""
    node = top.add(FRAME_IFACE, iface_no, display=f"{iface_no} ({one_line(name)})" if name else str(iface_no))
    if name:
        node.add(FRAME_IFACE_NAME, name, display=one_line(name))
    if iface is not None and iface.description:
        node.add(FRAME_IFACE_DESCRIPTION, iface.description, display=one_line(iface.description))


def one_line(text: str) -> str:
    """``text`` for a one-line label: line breaks written as ``\\n`` (names may hold them)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def add_comments(top: Layer, comments: list[str]) -> None:
    """One Comment node per comment; a comment of several lines shows its first line and has one
    child per line (a tree line cannot hold a line break)."""
    for text in comments:
        # tabs expanded: a terminal moves to its next tab stop, which no cell width accounts for
        lines = [line.expandtabs(8) for line in text.splitlines()] or [""]
        node = top.add(FRAME_COMMENT, text, display=lines[0] + (" …" if len(lines) > 1 else ""))
        if len(lines) > 1:
            for line in lines:
                node.add(None, line, display="", label=line)


def format_time(ts_ns: int) -> str:
    import datetime as _dt

    secs, ns = divmod(ts_ns, 1_000_000_000)
    try:
        t = _dt.datetime.fromtimestamp(secs, _dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ts_ns} ns"
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{ns:09d} UTC"


# -- the index row of a decoded frame -------------------------------------------------------

@dataclass(slots=True)
class Keys:
    protos: int = 0
    top: int = 0
    tcpflags: int = 0
    dirflags: int = 0
    eth_conv: int = 0
    ip_conv: int = 0
    l4_conv: int = 0
    #: (L3, L4, payload) start for the ``layout`` column (``fixedfields.layer_offsets``)
    offsets: tuple[int, int, int] = (-1, -1, -1)


_ICMP = {"ICMP", "ICMPv6"}
#: layers that say nothing about what a frame carries: never part of the presence mask
NOT_INDEXED = {"Payload", "Frame"}


def index_keys(trace: Trace, layers: list[Layer], protocol_name: str) -> Keys:
    """The index columns of a packet frame, from its dissected layers (the scalar definition).

    A tunnel frame (``tunnels.py``) is indexed by its tenant's conversations, its outer ones
    going to its tunnel entry."""
    k = Keys()
    for layer in layers:
        name = layer.protocol.name
        bit = MASK.get(name) if name not in NOT_INDEXED else None
        if bit is not None:
            k.protos |= bit
    k.top = CODE.get(protocol_name, 0) if protocol_name else 0
    at = tunnel_at(layers)
    if at is None:
        conv = _conversations(trace, layers, 0)
        if conv.ip_layers > 1:
            k.protos |= FLAGS["IPinIP"]
        k.eth_conv, k.ip_conv, k.l4_conv, k.dirflags, k.tcpflags = conv.eth, conv.ip, conv.l4, conv.dirflags, conv.tcpflags
        return k
    tunnel = layers[at]
    outer = _conversations(trace, layers[:at])
    code, vni = CODE[tunnel.protocol.name], int(_first(tunnel, _tunnels.NETWORK_ID[tunnel.protocol.name]))
    tid = _tunnels.intern(trace, code, vni, outer.eth, outer.ip, outer.l4)
    # the tenant's Ethernet conversation names the tunnel entry; without one, the outer MAC pair does
    inner = _conversations(trace, layers[at + 1 :], tid, _tunnels.network_key(code, vni),
                           layers[:at] if not any(x.protocol.name == "Ethernet" for x in layers[at + 1 :]) else None)
    if max(outer.ip_layers, inner.ip_layers) > 1:
        k.protos |= FLAGS["IPinIP"]
    if max(outer.eth_layers, inner.eth_layers, outer.l4_layers, inner.l4_layers) > 1:
        k.protos |= FLAGS["Nested"]
    k.eth_conv, k.ip_conv, k.l4_conv = inner.eth, inner.ip, inner.l4
    k.dirflags = inner.dirflags | (outer.dirflags << OUTER_SHIFT)
    k.tcpflags = outer.tcpflags or inner.tcpflags
    return k


def tunnel_at(layers: list[Layer]) -> int | None:
    """Where the tunnel whose tenant frame the index describes is: the first tunnel layer that has
    its network id, follows an IP header (not inside an ICMP error) and is followed by the
    tenant's Ethernet or IP header with its addresses."""
    ip = False
    for n, layer in enumerate(layers):
        name = layer.protocol.name
        if name in _ICMP:
            return None
        if name in ("IPv4", "IPv6"):
            ip = True
        elif name in _tunnels.NETWORK_ID:
            if not ip or _first(layer, _tunnels.NETWORK_ID[name]) is None:
                return None
            tenant = layers[n + 1] if n + 1 < len(layers) else None
            source = _TENANT_SOURCE.get(tenant.protocol.name) if tenant is not None else None
            # the tenant's header must give a conversation, or the frame would have none; and an
            # Ethernet one must name the tunnel entry (the outer one when the tenant has none)
            if source is None or _first(tenant, source) is None:
                return None
            if source != "Ethernet.SourceAddress" and not any(
                    x.protocol.name == "Ethernet" and _first(x, "Ethernet.SourceAddress") is not None
                    for x in layers[:n]):
                return None
            return n
    return None


_TENANT_SOURCE = {"Ethernet": "Ethernet.SourceAddress", "IPv4": "IPv4.SourceAddress", "IPv6": "IPv6.SourceAddress"}


@dataclass(slots=True)
class _Conv:
    eth: int = 0
    ip: int = 0
    l4: int = 0
    dirflags: int = 0
    tcpflags: int = 0
    eth_layers: int = 0
    ip_layers: int = 0
    l4_layers: int = 0


def _conversations(trace: Trace, layers: list[Layer], tunnel: int = 0, network: int = 0,
                   eth_from: list[Layer] | None = None) -> _Conv:
    """The conversations of the outermost Ethernet, IP and TCP/UDP header among ``layers`` (no
    TCP/UDP after an ICMP error).  A tunnel's tenant: ``tunnel`` its entry, ``network`` its
    ``network_key``; ``eth_from``: where its Ethernet header is when ``layers`` have none."""
    c = _Conv()
    eth = ip = l4 = None
    if eth_from is not None:
        eth = next((x for x in eth_from if x.protocol.name == "Ethernet"), None)
    after_icmp = False
    for layer in layers:
        name = layer.protocol.name
        if name in ("IPv4", "IPv6"):
            c.ip_layers += 1
        elif name == "Ethernet":
            c.eth_layers += 1
        elif name in ("TCP", "UDP"):
            c.l4_layers += 1
        if name == "Ethernet" and eth is None:
            eth = layer
        elif name in ("IPv4", "IPv6") and ip is None:
            ip = layer
        elif name in ("TCP", "UDP") and l4 is None and ip is not None and not after_icmp:
            l4 = layer
        elif name in _ICMP:
            after_icmp = True
    if eth is not None:
        src = _first(eth, "Ethernet.SourceAddress")
        dst = _first(eth, "Ethernet.DestinationAddress")
        if src is not None and dst is not None:
            lo, hi = (src, dst) if src <= dst else (dst, src)
            c.eth = trace.eth_conversations.intern((lo, hi, tunnel) if tunnel else (lo, hi), lo, hi, tunnel)
            if src != lo:
                c.dirflags |= DIR_ETH_REVERSED
    if ip is not None:
        fam = 4 if ip.protocol.name == "IPv4" else 6
        src = _first(ip, f"IPv{fam}.SourceAddress")
        dst = _first(ip, f"IPv{fam}.DestinationAddress")
        if src is not None and dst is not None:
            lo, hi = (src, dst) if src <= dst else (dst, src)
            c.ip = trace.ip_conversations.intern((fam, lo, hi, network) if network else (fam, lo, hi), lo, hi,
                                                 network, fam)
            reversed_ip = src != lo
            if reversed_ip:
                c.dirflags |= DIR_IP_REVERSED
            if l4 is not None:
                tcp = l4.protocol.name == "TCP"
                sport = _first(l4, "TCP.SrcPort" if tcp else "UDP.SrcPort")
                dport = _first(l4, "TCP.DstPort" if tcp else "UDP.DstPort")
                if sport is not None and dport is not None:
                    c.l4, rev = intern_l4(trace, c.ip, 6 if tcp else 17, src, dst, sport, dport)
                    if rev:
                        c.dirflags |= DIR_L4_REVERSED
                if tcp:
                    flags = _first(l4, "TCP.Flags")
                    if flags is not None:
                        c.tcpflags = int(flags) & 0xFF
    return c


def intern_l4(trace: Trace, ip_conv: int, proto: int, src: int, dst: int, sport: int, dport: int) -> tuple[int, bool]:
    """Intern a TCP/UDP conversation; ports are stored aligned with the IP conversation's sides."""
    if src < dst or (src == dst and sport <= dport):
        pa, pb, rev = sport, dport, False
    else:
        pa, pb, rev = dport, sport, True
    cid = trace.l4_conversations.intern((ip_conv, proto, pa, pb), pa, pb, ip_conv, proto)
    return cid, rev


def _first(layer: Layer, name: str) -> Any:
    key = name.lower()
    for f in layer.walk():
        if f.fdef is not None and f.fdef.key == key:
            return f.value
    return None


def scalar_rows(trace: Trace, datas: list[bytes], links: list[int]) -> list[Keys]:
    """Dissect frames one by one and derive their index keys (the slow, general path)."""
    out = []
    for data, link in zip(datas, links, strict=True):
        ctx = _dissect.dissect(data, link, trace.registry)
        keys = index_keys(trace, ctx.layers, ctx.protocol_name)
        keys.offsets = layer_offsets(ctx.layers, data)
        out.append(keys)
    return out
