"""NTP (RFC 5905, and SNTP, RFC 4330) on UDP 123, as Netmon's ``NTP`` parser names it: leap
indicator, version and mode; stratum, poll interval and precision; root delay and dispersion;
the reference identifier; the reference, originate, receive and transmit timestamps shown as UTC
times; and the key id and digest of an authenticated packet.

NTP control (mode 6) and private (mode 7) messages have other layouts: their first byte is read
(leap, version, mode) and the rest is kept as data.  Every payload on port 123 is an NTP layer
(the index's port rule relies on it); a packet shorter than the 48-byte header says so.
"""

from __future__ import annotations

import datetime as _dt
import struct

from ..fields import REGISTRY, FieldType
from .core import UDP_PORTS, Ctx, payload
from .text import ip4_text

R = REGISTRY
#: tshark's names of the modes
MODES = {0: "Reserved", 1: "Symmetric Active", 2: "Symmetric Passive", 3: "Client", 4: "Server", 5: "Broadcast",
         6: "Control", 7: "Private"}
LEAP = {0: "no warning", 1: "last minute has 61 seconds", 2: "last minute has 59 seconds",
        3: "unknown (clock unsynchronized)"}

NTP = R.protocol("NTP", "Network Time Protocol (RFC 5905), UDP 123")
FLAGS = R.define("NTP.Flags", FieldType.UINT, "Leap indicator, version number and mode (the first byte)")
LI = R.define("NTP.Flags.LeapIndicator", FieldType.UINT, "Leap second warning (3: clock unsynchronized)", enum=LEAP)
VN = R.define("NTP.Flags.VersionNumber", FieldType.UINT, "NTP version (3 or 4)")
MODE = R.define("NTP.Flags.Mode", FieldType.UINT, "Mode: 3 client, 4 server, 5 broadcast …", enum=MODES)
STRATUM = R.define("NTP.Stratum", FieldType.UINT, "Stratum (0 unspecified/kiss-o'-death, 1 primary, 2–15 secondary)")
POLL = R.define("NTP.PollInterval", FieldType.INT, "Poll interval, log2 seconds")
PRECISION = R.define("NTP.Precision", FieldType.INT, "Clock precision, log2 seconds")
ROOT_DELAY = R.define("NTP.RootDelay", FieldType.FLOAT, "Round-trip delay to the reference clock, seconds")
ROOT_DISPERSION = R.define("NTP.RootDispersion", FieldType.FLOAT, "Dispersion to the reference clock, seconds")
REFERENCE_ID = R.define("NTP.ReferenceIdentifier", FieldType.STRING,
                        "Reference id: a clock code (stratum 0–1, e.g. GPS or a kiss code) or a server's IPv4 address")
REFERENCE_TS = R.define("NTP.ReferenceTimestamp", FieldType.TIME, "When the clock was last set (UTC)")
ORIGINATE_TS = R.define("NTP.OriginateTimestamp", FieldType.TIME, "When the request left the client (UTC)")
RECEIVE_TS = R.define("NTP.ReceiveTimestamp", FieldType.TIME, "When the request reached the server (UTC)")
TRANSMIT_TS = R.define("NTP.TransmitTimestamp", FieldType.TIME, "When this packet left its sender (UTC)")
KEY_ID = R.define("NTP.KeyIdentifier", FieldType.UINT, "Key id of an authenticated packet")
DIGEST = R.define("NTP.MessageDigest", FieldType.BYTES, "Message digest (MD5 or SHA-1) of an authenticated packet")
DATA = R.define("NTP.Data", FieldType.BYTES, "Body of a control or private message, or bytes after the header")
R.alias("NTP.LeapIndicator", "NTP.Flags.LeapIndicator")
R.alias("NTP.VersionNumber", "NTP.Flags.VersionNumber")
R.alias("NTP.Version", "NTP.Flags.VersionNumber")
R.alias("NTP.Mode", "NTP.Flags.Mode")
R.alias("NTP.ReferenceID", "NTP.ReferenceIdentifier")
R.alias("NTP.ReferenceClockIdentifier", "NTP.ReferenceIdentifier")

HEADER = 48
_HEAD4 = struct.Struct("!BBbb")
#: (offset, width) of the header's fields, to say where a cut header's last whole field ends
_FIELD_ENDS = ((0, 1), (1, 1), (2, 1), (3, 1), (4, 4), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8), (40, 8))
#: seconds from the NTP epoch (1900) to the Unix epoch (1970)
_UNIX = 2208988800
#: an NTP second count with the top bit clear is in era 1 (from 2036-02-07), as RFC 4330 §3 reads it
_ERA = 1 << 32


def ntp_time(raw: int) -> int | None:
    """ns since the Unix epoch of a 64-bit NTP timestamp; None for 0 (unset)."""
    if raw == 0:
        return None
    secs, frac = raw >> 32, raw & 0xFFFFFFFF
    if not secs & 0x80000000:
        secs += _ERA
    return (secs - _UNIX) * 1_000_000_000 + ((frac * 1_000_000_000) >> 32)


def time_text(ns: int | None) -> str:
    if ns is None:
        return "NULL (0)"
    secs, rest = divmod(ns, 1_000_000_000)
    t = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(seconds=secs)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{rest:09d} UTC"


def _reference(stratum: int, raw: bytes) -> str:
    """A clock code for stratum 0 (kiss code) and 1; the server's IPv4 address above (for IPv6
    servers the first four bytes of a hash, which still reads as an address, as tshark shows it)."""
    if stratum <= 1:
        return raw.rstrip(b"\x00").decode("latin-1")
    return ip4_text(raw)


def _stratum_text(s: int) -> str:
    if s == 0:
        return "unspecified or invalid"
    if s == 1:
        return "primary reference"
    return "secondary reference" if s <= 15 else "unsynchronized" if s == 16 else "reserved"


def dissect_ntp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if off >= end:
        return
    first = d[off]
    li, vn, mode = first >> 6, (first >> 3) & 7, first & 7
    layer = ctx.layer(NTP, "", off, end - off)
    flags = layer.add(FLAGS, first, off, 1, display=f"0x{first:02X}")
    flags.add(LI, li, off, 1, display=f"{LEAP[li]} ({li})", bits=(0, 2))
    flags.add(VN, vn, off, 1, display=f"NTPv{vn}", bits=(2, 3))
    flags.add(MODE, mode, off, 1, display=f"{MODES[mode]} ({mode})", bits=(5, 3))
    if mode in (6, 7):
        if end - off > 1:
            layer.add(DATA, d[off + 1 : end], off + 1, end - off - 1, display=f"{end - off - 1} bytes")
        ctx.set_summary(layer, f"{MODES[mode]}, Version={vn}")
        return
    n = end - off
    if n >= 4:
        _, stratum, poll, precision = _HEAD4.unpack_from(d, off)
        layer.add(STRATUM, stratum, off + 1, 1, display=f"{stratum} ({_stratum_text(stratum)})")
        layer.add(POLL, poll, off + 2, 1, display=f"{poll} ({2.0 ** poll:g} s)" if -64 < poll < 64 else str(poll))
        layer.add(PRECISION, precision, off + 3, 1,
                  display=f"{precision} ({2.0 ** precision:.9f} s)" if -64 < precision < 64 else str(precision))
    else:
        stratum = -1
    for fdef, at in ((ROOT_DELAY, 4), (ROOT_DISPERSION, 8)):
        if n >= at + 4:
            v = int.from_bytes(d[off + at : off + at + 4], "big") / 65536
            layer.add(fdef, v, off + at, 4, display=f"{v:.6f} s")
    refid = _reference(stratum, d[off + 12 : off + 16]) if n >= 16 else ""
    if n >= 16:
        layer.add(REFERENCE_ID, refid, off + 12, 4)
    stamps: dict[object, int | None] = {}
    for fdef, at in ((REFERENCE_TS, 16), (ORIGINATE_TS, 24), (RECEIVE_TS, 32), (TRANSMIT_TS, 40)):
        if n >= at + 8:
            ns = ntp_time(int.from_bytes(d[off + at : off + at + 8], "big"))
            layer.add(fdef, ns, off + at, 8, display=time_text(ns))
            stamps[fdef] = ns
    if n < HEADER:  # the fields that fit are shown (as tshark does)
        ctx.set_summary(layer, f"{MODES[mode]}, Version={vn}" + (f", Stratum={stratum}" if stratum >= 0 else ""))
        ctx.short(layer, f"{n} bytes, an NTP header needs {HEADER}")
        read = max(a + w for a, w in _FIELD_ENDS if a + w <= n) if n >= 4 else 1
        payload(ctx, off + read, end)
        return
    rest = end - off - HEADER
    p = off + HEADER
    if rest in (20, 24):  # key id and an MD5 (16) or SHA-1 (20) digest
        key = int.from_bytes(d[p : p + 4], "big")
        layer.add(KEY_ID, key, p, 4)
        layer.add(DIGEST, d[p + 4 : end], p + 4, rest - 4, display=d[p + 4 : end].hex())
    elif rest > 0:  # extension fields (RFC 7822, NTS …) are not read
        layer.add(DATA, d[p:end], p, rest, display=f"{rest} bytes")
    parts = [MODES[mode], f"Version={vn}", f"Stratum={stratum}"]
    if stratum <= 1 and refid:
        parts.append(f"ReferenceID={refid}")
    sent = stamps.get(TRANSMIT_TS)
    if sent is not None:
        parts.append(f"TransmitTime={time_text(sent)[:-7]} UTC")
    ctx.set_summary(layer, ", ".join(parts))


UDP_PORTS[123] = dissect_ntp
