"""PktMon logs a packet once per component it passes; the shipped presets show each packet once,
or its path through the components, checked against ``pktmon format``'s own text (issue 11)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import SAMPLES
from tracemon.filters import PresetStore, compile_filter
from tracemon.traces import open_trace
from tracemon.traces.columns import ColumnFormatter, resolve

ETL = SAMPLES / "etl" / "pktmon_vpn_20210601.etl"
TEXT = SAMPLES / "etl" / "pktmon_vpn_20210601.pktmon-format.utf16.txt"
LINE = re.compile(r"PktGroupId (\d+), PktNumber \d+, Appearance (\d+), Direction (\w+) , Type \w+ , "
                  r"Component (\d+), Edge (\d+)")


@pytest.fixture(scope="module")
def truth() -> list[tuple[int, int, str, int, int]]:
    if not ETL.exists() or not TEXT.exists():
        pytest.skip("pktmon sample missing")
    text = TEXT.read_bytes().decode("utf-16-le")
    return [(int(g), int(a), d, int(c), int(e)) for g, a, d, c, e in LINE.findall(text)]


def test_each_packet_once_keeps_one_row_per_packet_group(truth) -> None:
    preset = PresetStore().get("PktMon: each packet once")
    assert preset is not None
    with open_trace(ETL, use_cache=False) as trace:
        rows = compile_filter(preset.expression, trace=trace).evaluate(trace).nonzero()[0]
        cols = [resolve(c, trace) for c in preset.columns]
        assert len(rows) == len({g for g, *_ in truth}) == 345
        component = next(c for c in cols if c.key.endswith("ComponentId"))
        firsts = [(c, e) for g, a, d, c, e in truth if a == 1]
        fmt = ColumnFormatter(trace)
        shown = [int(fmt.text(component, int(i)).split()[0]) for i in rows]
        assert shown == [c for c, _ in firsts]


def test_packet_path_columns_match_pktmon_format(truth) -> None:
    preset = PresetStore().get("PktMon: packet path by component")
    with open_trace(ETL, use_cache=False) as trace:
        rows = compile_filter(preset.expression, trace=trace).evaluate(trace).nonzero()[0]
        assert len(rows) == len(truth) == 3646
        cols = [resolve(c, trace) for c in preset.columns]
        fmt = ColumnFormatter(trace)
        got = []
        for values in fmt.rows(cols, rows[:400]):
            cells = dict(zip((c.key.rsplit(".", 1)[-1] for c in cols), values, strict=True))
            got.append((int(cells["PktGroupId"]), int(cells["AppearanceCount"]), cells["DirTag"].split("(")[-1][:2],
                        int(cells["ComponentId"].split()[0]), int(cells["EdgeId"])))
        assert got == [(g, a, d, c, e) for g, a, d, c, e in truth[:400]]


def test_the_cli_takes_etw_fields_as_columns() -> None:
    out = subprocess.run([sys.executable, "-m", "tracemon.tui.cli", "list", str(ETL), "--limit", "30", "--columns",
                          "number,PktMon_MicrosoftWindowsPktMon.FramePayload.ComponentId"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "11 (rtwlane02.sys" in out.stdout
