"""The packet events of a scanned batch of ETW buffers, located column-wise (``records.scan``).

NDIS 1001 and PktMon 160/170 events have fixed layouts: their fragments are found with array
operations.  NDIS 1003 (the Hyper-V switch's, with port and NIC names before the fragment) and
events with extended items are located by ``packets.locate``, one record at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .records import EVENT_HEADER32, FLAG_EXTENDED_INFO, parse_extended

try:  # packets._ndis_1003 over many records in C (``_records.c``); else one record at a time
    from ._records import join_spans as _native_join
    from ._records import ndis_vmswitch as _native_vmswitch
except ImportError:  # pragma: no cover - depends on the build
    _native_join = _native_vmswitch = None


@dataclass(slots=True)
class PacketRows:
    """The packet events of one scanned batch, column-wise, with their bytes side by side in ``data``.

    NDIS 1001 and PktMon 160/170 events (fixed layouts) are located with array operations; 1003
    (names before the fragment) and events with extended items go through ``packets.locate``.
    """

    rows: Any  # row in the batch
    start: Any  # offset of the fragment inside its record
    offset: Any  # offset of the fragment in ``data``
    length: Any
    link: Any
    direction: Any  # 0 / packets.SEND / packets.RECEIVE
    first: Any
    last: Any
    key: Any  # index into ``keys``
    miniport: Any
    processor: Any
    keys: list[tuple[Any, ...]]
    data: Any  # uint8; 802.11 Protected bits already cleared


def _u32(u8: Any, pos: Any) -> Any:
    import numpy as np

    return (u8[pos].astype(np.uint32) | (u8[pos + 1].astype(np.uint32) << 8) | (u8[pos + 2].astype(np.uint32) << 16)
            | (u8[pos + 3].astype(np.uint32) << 24))


def _u16(u8: Any, pos: Any) -> Any:
    import numpy as np

    return u8[pos].astype(np.uint32) | (u8[pos + 1].astype(np.uint32) << 8)


def packet_rows(blob: Any, u8: Any, offs: Any, length: Any, htype: Any, keyword: Any, event_id: Any, gcol: Any,
                 guids: list[uuid.UUID], procs: Any, is_ev: Any, h: Any) -> tuple[PacketRows | None, list[Any]]:
    import numpy as np

    from . import packets as pk

    side: list[tuple[int, uuid.UUID, int, bytes]] = []
    ndis = [i for i, g in enumerate(guids) if g == pk.NDIS_GUID]
    pmon = [i for i, g in enumerate(guids) if g == pk.PKTMON_GUID]
    if not ndis and not pmon:
        return None, side
    is_ndis = np.isin(gcol, ndis) & is_ev
    is_pmon = np.isin(gcol, pmon) & is_ev
    ext = (h[:, 4] & FLAG_EXTENDED_INFO) != 0
    for r in np.flatnonzero((is_ndis & (event_id == pk.NDIS_METADATA)) | (is_pmon & (event_id == pk.PKTMON_COMPONENT))):
        o = int(offs[r])
        side.append((int(r), guids[int(gcol[r])], int(event_id[r]), bytes(blob[o : o + int(length[r])])))
    # fixed layouts, no extended items: array operations
    v1001 = np.flatnonzero(is_ndis & (event_id == pk.NDIS_FRAGMENT) & ~ext & (length >= 0x5C))
    head = pk.PKTMON_PACKET_LAYOUT.size  # PktMon's fixed fields before the packet bytes
    vpm = np.flatnonzero(is_pmon & ((event_id == pk.PKTMON_PACKET) | (event_id == pk.PKTMON_DROP)) & ~ext
                         & (length >= 0x50 + head))
    parts: list[dict[str, Any]] = []
    if len(v1001):
        o = offs[v1001]
        parts.append({
            "rows": v1001, "start": np.full(len(v1001), 0x5C), "length": np.minimum(
                _u32(u8, o + 0x58).astype(np.int64), length[v1001].astype(np.int64) - 0x5C),
            **_ndis_keyword(keyword[v1001]),
            "ident": ("ndis", _u32(u8, o + 0x54).astype(np.int64)), "miniport": _u32(u8, o + 0x50).astype(np.int64),
        })
    if len(vpm):
        o = offs[vpm] + 0x50
        ptype = _u16(u8, o + 14)
        link = np.select([ptype == t for t in pk.PKTMON_LINKS], list(pk.PKTMON_LINKS.values()), 0)
        wifi = np.flatnonzero((link == pk.LINK_80211) & (_u16(u8, o + 32) >= 14)
                              & (length[vpm].astype(np.int64) >= 0x50 + head + 14))
        if len(wifi):
            fc = u8[np.minimum(o[wifi] + head, len(u8) - 1)].astype(np.int64)
            et = (u8[np.minimum(o[wifi] + head + 12, len(u8) - 1)].astype(np.int64) << 8) | \
                u8[np.minimum(o[wifi] + head + 13, len(u8) - 1)].astype(np.int64)
            eth = ((fc >> 2) & 3 == 3) & np.isin(et, pk.ETHERNET_TYPES)  # see packets.wifi_is_ethernet
            link[wifi[eth]] = pk.LINK_ETHERNET
        keep = link != 0
        vpm, o, link = vpm[keep], o[keep], link[keep]
        dirtag = _u16(u8, o + 12)
        n = len(vpm)
        parts.append({
            "rows": vpm, "start": np.full(n, 0x50 + head), "length": np.minimum(
                _u16(u8, o + 32).astype(np.int64), length[vpm].astype(np.int64) - 0x50 - head),
            "link": link, "direction": np.select([dirtag == t for t in pk.PKTMON_DIRS],
                                                 [d for _, d in pk.PKTMON_DIRS.values()], 0),
            "first": np.ones(n, dtype=bool), "last": np.ones(n, dtype=bool),
            "ident": ("pktmon", _u16(u8, o + 16).astype(np.int64)), "miniport": np.zeros(n, dtype=np.int64),
            "clear": np.zeros(n, dtype=bool),
        })
    keys: list[tuple[Any, ...]] = []
    key_of: dict[tuple[Any, ...], int] = {}
    for part in parts:
        kind, ident = part.pop("ident")
        combo = ident * 1024 + part["link"]
        uniq, inv = np.unique(combo, return_inverse=True)
        ids = []
        for u in uniq:
            key = (kind, int(u) // 1024, int(u) % 1024)
            ids.append(key_of.setdefault(key, len(key_of)))
            if len(keys) < len(key_of):
                keys.append(key)
        part["key"] = np.array(ids, dtype=np.int64)[inv.reshape(-1)]
    # 1003 (names before the fragment) in C when it was built; the rest one by one: events with
    # extended items, names too long to encode, and every 1003 without the C pass
    vmswitch = is_ndis & (event_id == pk.NDIS_VMSWITCH_FRAGMENT)
    switch_part, left = (_vmswitch_part(u8, offs, length, htype, keyword, np.flatnonzero(vmswitch & ~ext))
                         if _native_vmswitch is not None else (None, None))
    if switch_part is not None:
        vmswitch &= ext
    scalar = np.flatnonzero((is_ndis & (vmswitch | ((event_id == pk.NDIS_FRAGMENT) & ext)))
                            | (is_pmon & ((event_id == pk.PKTMON_PACKET) | (event_id == pk.PKTMON_DROP)) & ext))
    if left is not None and len(left):
        scalar = np.union1d(scalar, left)
    srows: list[int] = []
    sinfo: list[Any] = []
    for r in scalar:
        o = int(offs[r])
        rec = bytes(blob[o : o + int(length[r])])
        payload_at = parse_extended(rec, 0x50, len(rec))[1] if rec[4] & FLAG_EXTENDED_INFO else 0x50
        info = pk.locate(guids[int(gcol[r])], int(event_id[r]), int(keyword[r]), rec, payload_at,
                         4 if htype[r] == EVENT_HEADER32 else 8, detail=False)
        if info is not None:
            srows.append(int(r))
            sinfo.append(info)
    # interfaces numbered as the records come: the switch part's by the first row of each, then
    # one record at a time
    firsts: list[tuple[int, int, tuple[Any, ...]]] = [(int(r), -1 - k, key) for k, (r, key) in enumerate(
        zip(switch_part["firsts"].tolist(), switch_part["keys"], strict=True))] if switch_part is not None else []
    firsts += [(r, j, info.iface) for j, (r, info) in enumerate(zip(srows, sinfo, strict=True))]
    firsts.sort(key=lambda x: x[0])
    switch_ids = np.zeros(len(switch_part["keys"]) if switch_part is not None else 0, dtype=np.int64)
    key_ids = [0] * len(sinfo)
    for _r, j, key in firsts:
        kid = key_of.setdefault(key, len(key_of))
        if len(keys) < len(key_of):
            keys.append(key)
        if j < 0:
            switch_ids[-1 - j] = kid
        else:
            key_ids[j] = kid
    if switch_part is not None and len(switch_part["rows"]):
        parts.append({k: v for k, v in switch_part.items() if k not in ("firsts", "keys", "combo")}
                     | {"key": switch_ids[switch_part["combo"]]})
    if sinfo:
        parts.append({
            "rows": np.array(srows, dtype=np.int64), "start": np.array([i.start for i in sinfo], dtype=np.int64),
            "length": np.array([i.length for i in sinfo], dtype=np.int64),
            "link": np.array([i.link_type for i in sinfo], dtype=np.int64),
            "direction": np.array([i.direction for i in sinfo], dtype=np.int64),
            "first": np.array([i.first for i in sinfo], dtype=bool), "last": np.array([i.last for i in sinfo], dtype=bool),
            "key": np.array(key_ids, dtype=np.int64), "miniport": np.array([i.miniport for i in sinfo], dtype=np.int64),
            "clear": np.array([i.clear_protected for i in sinfo], dtype=bool),
        })
    if not parts:
        return None, side
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cat["rows"], kind="stable")
    cat = {k: v[order] for k, v in cat.items()}
    lens = np.maximum(cat["length"], 0)
    offset = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    src = offs[cat["rows"]] + cat["start"]
    data = _joined(u8, src, lens, offset)
    wifi = np.flatnonzero(cat["clear"] & (lens > 1))
    if len(wifi):
        data[offset[wifi] + 1] &= 0xBF  # ndiscap logs decrypted frames: clear Protected (etl2pcapng does)
    return PacketRows(cat["rows"], cat["start"], offset, lens, cat["link"], cat["direction"].astype(np.uint8),
                      cat["first"], cat["last"], cat["key"], cat["miniport"], procs[cat["rows"]], keys, data), side


#: ``_records.ndis_vmswitch``'s fields, in their order
V_START, V_LENGTH, V_MINI, V_LOWER, V_PORT, V_VLAN, V_NAME_AT, V_NAME_END, V_TYPE_AT, V_TYPE_END = range(10)


def _vmswitch_part(u8: Any, offs: Any, length: Any, htype: Any, keyword: Any, rows: Any
                   ) -> tuple[dict[str, Any] | None, Any]:
    """The Hyper-V switch's packet events (NDIS 1003, no extended items) at ``rows``, as
    ``packets._ndis_1003`` locates them (``_records.ndis_vmswitch``), as a part of ``packet_rows``
    with ``combo`` (each row's interface among ``keys``) and ``firsts`` (the row where each key
    first comes); and the rows whose names are too long to encode, for the one-at-a-time path.
    The names of an interface become text once each."""
    import numpy as np

    from ..dictcode import encode_bytes, unique_rows

    if not len(rows):
        return None, None
    o = np.ascontiguousarray(offs[rows], dtype=np.int64)
    ok, raw = _native_vmswitch(u8, o, np.ascontiguousarray(length[rows], dtype=np.int64),  # type: ignore[misc]
                               np.where(htype[rows] == EVENT_HEADER32, 4, 8).astype(np.int64))
    found = np.frombuffer(ok, dtype=np.uint8) != 0
    f = np.frombuffer(raw, dtype=np.int64).reshape(-1, 10)[found]
    rows, o = rows[found], o[found]

    def utf16(b: bytes) -> str:
        return b.decode("utf-16-le", "replace")

    name, names, long1 = encode_bytes(u8, o + f[:, V_NAME_AT], f[:, V_NAME_END] - f[:, V_NAME_AT], utf16)
    kind, kinds, long2 = encode_bytes(u8, o + f[:, V_TYPE_AT], f[:, V_TYPE_END] - f[:, V_TYPE_AT], utf16)
    short = ~(long1 | long2)
    left = rows[~short]
    rows, f, name, kind = rows[short], f[short], name[short], kind[short]
    combo_cols = np.stack([f[:, V_LOWER], f[:, V_PORT], f[:, V_VLAN], name.astype(np.int64), kind.astype(np.int64)],
                          axis=1)
    first, combo = unique_rows(combo_cols.view(np.uint8))  # (each row's five int64 as its 40 bytes)
    keys = [("vnic", lower, port, vlan, kinds[k], names[n]) for lower, port, vlan, n, k in combo_cols[first].tolist()]
    return {
        "rows": rows, "start": f[:, V_START], "length": f[:, V_LENGTH], **_ndis_keyword(keyword[rows]),
        "miniport": f[:, V_MINI], "combo": combo, "firsts": rows[first], "keys": keys,
    }, left


def _ndis_keyword(kw: Any) -> dict[str, Any]:
    """What the keywords of NDIS packet events say (``packets._finish_ndis`` for one): link type,
    direction, packet start and end (``packets.ndis_bounds``), and whether 802.11's Protected bit
    is to be cleared."""
    import numpy as np

    from . import packets as pk

    def bits(table: tuple[tuple[int, int], ...], default: int) -> Any:  # packets.ndis_link / ndis_direction
        return np.select([(kw & np.uint64(bit)) != 0 for bit, _ in table], [v for _, v in table], default)

    link = bits(pk.NDIS_LINK_BITS, pk.LINK_ETHERNET)
    neither = (kw & np.uint64(pk.KW_PACKET_START | pk.KW_PACKET_END)) == 0
    return {"link": link, "direction": bits(pk.NDIS_DIRECTION_BITS, 0),
            "first": neither | ((kw & np.uint64(pk.KW_PACKET_START)) != 0),
            "last": neither | ((kw & np.uint64(pk.KW_PACKET_END)) != 0), "clear": link == pk.LINK_80211}


def _joined(u8: Any, src: Any, lens: Any, offset: Any) -> Any:
    """The bytes ``u8[src:src+lens]`` of each row side by side, row k at ``offset[k]`` (writable)."""
    import numpy as np

    total = int(lens.sum())
    if not total:
        return np.zeros(0, dtype=np.uint8)
    if _native_join is not None:
        out = np.empty(total, dtype=np.uint8)  # (every byte written)
        _native_join(u8, np.ascontiguousarray(src, dtype=np.int64), np.ascontiguousarray(lens, dtype=np.int64), out)
        return out
    return u8[np.repeat(src - offset, lens) + np.arange(total, dtype=np.int64)]
