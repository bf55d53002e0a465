"""The export dialog: the extension of the typed file name decides the format (issue 11)."""

from __future__ import annotations

import json

from conftest import sample
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.export import ExportScreen
from tui_support import async_test, settle

PCAP = "pcap/tcpreplay_test.pcap"


async def _export(tmp_path, name: str):
    app = TracemonApp([str(sample(PCAP))])
    target = tmp_path / name
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.fmt == "pcapng"  # what the dialog proposes for a packet trace
        app.screen.query_one("#export-path").value = str(target)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, ExportScreen)
    return target


@async_test
async def test_a_csv_name_writes_csv_whatever_button_is_set(tmp_path):
    target = await _export(tmp_path, "frames.csv")
    lines = target.read_text().splitlines()
    assert lines[0].startswith("Frame Number,Time,Time Offset") and len(lines) == 180


@async_test
async def test_a_json_name_writes_json(tmp_path):
    target = await _export(tmp_path, "frames.json")
    rows = json.loads(target.read_text())
    assert len(rows) == 179 and rows[0]["Frame Number"] == 1


@async_test
async def test_a_pcapng_name_writes_pcapng(tmp_path):
    target = await _export(tmp_path, "frames.pcapng")
    assert target.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
