"""pcapng options: the option codes of each block kind by name, their values, and what the
reader takes from them (timestamp resolution, packet direction)."""

from __future__ import annotations

import math
import struct
from typing import Any

from .index import DIR_RECEIVE, DIR_SEND

# option codes → names, per block kind (RFC draft-ietf-opsawg-pcapng)
SHB_OPTIONS = {2: "shb_hardware", 3: "shb_os", 4: "shb_userappl"}
IDB_OPTIONS = {2: "if_name", 3: "if_description", 4: "if_IPv4addr", 5: "if_IPv6addr", 6: "if_MACaddr",
               7: "if_EUIaddr", 8: "if_speed", 9: "if_tsresol", 10: "if_tzone", 11: "if_filter",
               12: "if_os", 13: "if_fcslen", 14: "if_tsoffset", 15: "if_hardware", 16: "if_txspeed",
               17: "if_rxspeed"}
EPB_OPTIONS = {2: "epb_flags", 3: "epb_hash", 4: "epb_dropcount", 5: "epb_packetid", 6: "epb_queue",
               7: "epb_verdict"}
OPB_OPTIONS = {2: "pack_flags", 3: "pack_hash"}
STRING_OPTIONS = {"shb_hardware", "shb_os", "shb_userappl", "if_name", "if_description", "if_filter",
                  "if_os", "if_hardware", "comment"}
CUSTOM_OPTION_CODES = (2988, 2989, 19372, 19373)


def parse_options(buf: Any, pos: int, end: int, endian: str, names: dict[int, str]) -> tuple[dict[str, Any], list[str]]:
    """Options as {name: value} plus the list of comments; damage ends the list quietly."""
    opts: dict[str, Any] = {}
    comments: list[str] = []
    unpack = struct.Struct(endian + "HH").unpack_from
    guard = 0
    while pos + 4 <= end and guard < 4096:
        guard += 1
        code, length = unpack(buf, pos)
        pos += 4
        if code == 0:  # opt_endofopt
            break
        if pos + length > end:
            break
        value = bytes(buf[pos : pos + length])
        pos += (length + 3) & ~3
        if code == 1:
            comments.append(value.decode("utf-8", "replace"))
            continue
        if code in CUSTOM_OPTION_CODES:
            opts.setdefault("custom", []).append(value.hex())
            continue
        name = names.get(code, f"option_{code}")
        opts[name] = _option_value(name, value, endian)
    return opts, comments


def _option_value(name: str, value: bytes, endian: str) -> Any:
    if name in STRING_OPTIONS:
        return value.decode("utf-8", "replace").rstrip("\x00")
    if name in ("if_tsresol", "if_fcslen") and value:
        return value[0]
    if name in ("if_tsoffset",) and len(value) >= 8:
        return struct.unpack_from(endian + "q", value)[0]
    if name in ("epb_flags",) and len(value) >= 4:
        return struct.unpack_from(endian + "I", value)[0]
    if name in ("if_speed", "if_txspeed", "if_rxspeed", "epb_dropcount", "epb_packetid") and len(value) >= 8:
        return struct.unpack_from(endian + "Q", value)[0]
    if name == "epb_queue" and len(value) >= 4:
        return struct.unpack_from(endian + "I", value)[0]
    if name == "if_IPv4addr" and len(value) >= 8:
        return ".".join(str(b) for b in value[:4]) + "/" + ".".join(str(b) for b in value[4:8])
    if name == "if_MACaddr" and len(value) >= 6:
        return "-".join(f"{b:02X}" for b in value[:6])
    return value.hex()


def units_per_second(tsresol: int | None) -> int:
    """Timestamp units per second of an interface (if_tsresol; microseconds when absent)."""
    if tsresol is None:
        return 1_000_000
    exp = tsresol & 0x7F
    return 1 << exp if tsresol & 0x80 else 10**exp


def epb_direction(opts: dict[str, Any]) -> int:
    """The direction bits of an ``epb_flags`` option (1 inbound, 2 outbound); 0 when absent or
    malformed (an option of the wrong length keeps its hex text)."""
    flags = opts.get("epb_flags")
    return flags & 3 if isinstance(flags, int) else 0


#: ``epb_direction`` → the index's DIR_* bit and the Frame.Direction text
DIRECTION_FLAGS = {1: DIR_RECEIVE, 2: DIR_SEND}
DIRECTION_NAMES = {1: "Inbound", 2: "Outbound"}


def tsresol_scale(per_second: int) -> tuple[int, int]:
    """(multiply, divide), in lowest terms, that turn timestamp units into ns."""
    g = math.gcd(1_000_000_000, per_second)
    return 1_000_000_000 // g, per_second // g
