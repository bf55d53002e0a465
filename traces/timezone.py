"""The capture host's time zone, as Windows records it in an ETL log header.

``TRACE_LOGFILE_HEADER.TimeZone`` is a ``TIME_ZONE_INFORMATION``: a bias in minutes (UTC = local
+ bias), and for zones with daylight saving the two transition rules (``SYSTEMTIME`` with
``wYear == 0``: month, day of week, week of the month 1–5 where 5 means the last, and the local
time of day of the change) with the bias added in each period.  An engineer reading a trace
from a server in another zone wants the server's clock (that is what its event logs say), so
"local" time in tracemon means the capture host's zone when the file tells it.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import struct
from dataclasses import dataclass

#: TIME_ZONE_INFORMATION: Bias, StandardName[32], StandardDate, StandardBias, DaylightName[32],
#: DaylightDate, DaylightBias (172 bytes)
TZI = struct.Struct("<i64s8Hi64s8Hi")
NS_PER_MINUTE = 60 * 1_000_000_000


@dataclass(slots=True, frozen=True)
class Transition:
    """A yearly rule: the ``week``-th (5 = last) ``weekday`` (0 = Sunday) of ``month`` at local
    ``hour:minute``; or, when ``year`` is set, that one absolute local date."""

    year: int
    month: int
    weekday: int
    week: int
    hour: int
    minute: int

    def local_ns(self, year: int) -> int | None:
        """The transition's local wall-clock time in ``year`` as ns since 1970 (None: no rule)."""
        if not 1 <= self.month <= 12:
            return None
        if self.year:  # an absolute date: wDay is the day of the month
            if self.year != year:
                return None
            day = self.week
        else:
            first_weekday = (calendar.weekday(year, self.month, 1) + 1) % 7  # 0 = Sunday
            day = 1 + (self.weekday - first_weekday) % 7 + 7 * (max(1, min(self.week, 5)) - 1)
            days_in_month = calendar.monthrange(year, self.month)[1]
            while day > days_in_month:
                day -= 7
        try:
            when = _dt.datetime(year, self.month, day, min(self.hour, 23), min(self.minute, 59), tzinfo=_dt.UTC)
        except ValueError:
            return None
        return int(when.timestamp()) * 1_000_000_000


@dataclass(slots=True, frozen=True)
class CaptureZone:
    bias: int  # minutes; UTC = local + bias
    standard_name: str
    standard_bias: int
    daylight_name: str
    daylight_bias: int
    standard_start: Transition | None  # when daylight time ends
    daylight_start: Transition | None

    @property
    def has_daylight(self) -> bool:
        return self.standard_start is not None and self.daylight_start is not None and self.daylight_bias != 0

    def offset_minutes(self, utc_ns: int) -> int:
        """Minutes to add to UTC for the host's wall clock at ``utc_ns``."""
        standard = -(self.bias + self.standard_bias)
        if not self.has_daylight:
            return standard
        daylight = -(self.bias + self.daylight_bias)
        try:
            year = _dt.datetime.fromtimestamp(utc_ns // 1_000_000_000, _dt.UTC).year
        except (OverflowError, OSError, ValueError):
            return standard
        assert self.daylight_start is not None and self.standard_start is not None
        begin = self.daylight_start.local_ns(year)
        end = self.standard_start.local_ns(year)
        if begin is None or end is None:
            return standard
        # the rules are in local time: daylight begins at standard local time, ends at daylight local
        begin_utc = begin - standard * NS_PER_MINUTE
        end_utc = end - daylight * NS_PER_MINUTE
        inside = begin_utc <= utc_ns < end_utc if begin_utc < end_utc else not end_utc <= utc_ns < begin_utc
        return daylight if inside else standard

    def name_at(self, utc_ns: int) -> str:
        daylight = self.has_daylight and self.offset_minutes(utc_ns) == -(self.bias + self.daylight_bias)
        return self.daylight_name if daylight else self.standard_name

    def display_name(self, utc_ns: int) -> str:
        """The zone's name when Windows wrote one (not a ``@tzres.dll,-NNN`` resource reference)."""
        name = self.name_at(utc_ns)
        return "" if name.startswith("@") else name

    def label(self, utc_ns: int) -> str:
        """``UTC+05:30`` for the offset in force at ``utc_ns``."""
        m = self.offset_minutes(utc_ns)
        sign = "+" if m >= 0 else "-"
        return f"UTC{sign}{abs(m) // 60:02d}:{abs(m) % 60:02d}"



def _name(raw: bytes) -> str:
    text = raw.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return "".join(c if c.isprintable() else "?" for c in text)


def _transition(fields: tuple[int, ...]) -> Transition | None:
    year, month, weekday, day, hour, minute, _sec, _ms = fields
    if month == 0:
        return None
    return Transition(year, month, weekday, day, hour, minute)


def parse_time_zone(data: bytes | memoryview, offset: int) -> CaptureZone | None:
    """The TIME_ZONE_INFORMATION at ``offset``; None when absent or implausible (all zero, or a
    bias beyond ±14 h: a header written by a tool that left it empty or garbage)."""
    if offset < 0 or offset + TZI.size > len(data):
        return None
    v = TZI.unpack_from(data, offset)
    bias, std_name, std_date, std_bias, dst_name, dst_date, dst_bias = v[0], v[1], v[2:10], v[10], v[11], v[12:20], v[20]
    if bytes(data[offset : offset + TZI.size]).count(0) == TZI.size:
        return None
    if not all(-14 * 60 <= b <= 14 * 60 for b in (bias, bias + std_bias, bias + dst_bias)):
        return None
    return CaptureZone(bias, _name(std_name), std_bias, _name(dst_name), dst_bias, _transition(std_date),
                       _transition(dst_date))


def zone_description(zone: CaptureZone, at_ns: int) -> str:
    """``UTC+05:30`` or ``UTC-07:00 (Pacific Daylight Time)``, as in force at ``at_ns``."""
    name = zone.display_name(at_ns)
    return f"{zone.label(at_ns)} ({name})" if name else zone.label(at_ns)


def start_ft_ns(filetime: int) -> int:
    """A FILETIME (100 ns since 1601) as ns since 1970."""
    return (filetime - 116_444_736_000_000_000) * 100
