"""The capture host's time zone from the ETL log header, and "local" time in its clock (issue 11).

Checked against independent clocks: ``pktmon format``'s text (written on the capture host, in
its local time) and the IANA database through ``zoneinfo`` for the daylight-saving rules.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from zoneinfo import ZoneInfo

import pytest
from conftest import SAMPLES
from tracemon.traces import open_trace
from tracemon.traces.columns import format_abs
from tracemon.traces.timezone import parse_time_zone

ETL = SAMPLES / "etl"


def _zone_of(name: str):
    with open_trace(ETL / name, load=False, use_cache=False) as trace:
        return trace.time_zone


def test_pktmon_local_time_is_the_capture_hosts_clock() -> None:
    text = (ETL / "pktmon_vpn_20210601.pktmon-format.utf16.txt").read_bytes().decode("utf-16-le")
    theirs = sorted(re.findall(r"::(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{7})\d\d \[Microsoft-Windows-PktMon\]", text))
    assert len(theirs) == 4514
    with open_trace(ETL / "pktmon_vpn_20210601.etl", use_cache=False) as trace:
        zone = trace.time_zone
        assert zone is not None and zone.label(int(trace.index.ts[0])) == "UTC+05:30"
        assert trace.facts["time_zone"] == "UTC+05:30"
        pktmon = [p for p, prov in enumerate(trace.providers) if prov.protocol.startswith("PktMon_")]
        rows = [i for i in range(len(trace)) if int(trace.index.provider[i]) in pktmon]
        ours = sorted(format_abs(int(trace.index.ts[i]), True, zone) for i in rows)
    assert ours == theirs


@pytest.mark.parametrize(("sample", "iana"), [
    ("netsh_ndis_wifi_1pkt.etl", "America/Los_Angeles"),
    ("etlparser_AMSITrace.etl", "Europe/Paris"),
    ("perfview_primitive-types.etl", "Europe/Helsinki"),
])
def test_daylight_saving_rules_agree_with_the_iana_database(sample: str, iana: str) -> None:
    zone = _zone_of(sample)
    assert zone is not None and zone.has_daylight
    tz = ZoneInfo(iana)
    start = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    for hours in range(0, 4 * 366 * 24, 1):  # every hour of four years, both transitions each year
        t = start + dt.timedelta(hours=hours, minutes=30)
        want = int(t.astimezone(tz).utcoffset().total_seconds() // 60)
        assert zone.offset_minutes(int(t.timestamp()) * 1_000_000_000) == want, t


def test_the_netsh_sample_names_its_zone_and_daylight_time() -> None:
    zone = _zone_of("netsh_ndis_wifi_1pkt.etl")
    with open_trace(ETL / "netsh_ndis_wifi_1pkt.etl", load=False, use_cache=False) as trace:
        assert trace.facts["time_zone"] == "UTC-07:00 (Pacific Daylight Time)"
    assert zone.display_name(0) == "Pacific Standard Time"  # 1970-01-01 is in winter


@pytest.mark.parametrize("raw", [
    bytes(172),  # a header written without a zone
    struct.pack("<i", 24 * 60) + bytes(168),  # a bias of a day: garbage
])
def test_absent_or_implausible_zones_are_ignored(raw: bytes) -> None:
    assert parse_time_zone(raw, 0) is None


def test_a_zone_cut_short_is_ignored() -> None:
    assert parse_time_zone(bytes(100), 0) is None


def test_the_time_key_offers_the_viewers_clock_only_when_local_means_the_hosts() -> None:
    from tracemon.tui.columns import time_modes

    with open_trace(ETL / "pktmon_vpn_20210601.etl", load=False, use_cache=False) as trace:
        assert "viewer" in time_modes(trace)
    with open_trace(SAMPLES / "pcap" / "tcpreplay_test.pcap", load=False, use_cache=False) as trace:
        assert trace.time_zone is None and "viewer" not in time_modes(trace)
