"""The pickers stay responsive with 10,000 items (issue 11, defect 3).

Speed is measured in benchmarks/bench_pickers.py; these tests count the work a keystroke does:
how many item texts are built for the screen (only the visible rows may be) and how many items the
matcher looks at once the query only grows.
"""

from __future__ import annotations

import pytest
from conftest import sample
from rich.text import Text
from tracemon.tui.app import TracemonApp
from tracemon.tui.matching import Ranker
from tracemon.tui.screens.columns import ColumnsScreen
from tracemon.tui.screens.picker import Item, PickerScreen
from tracemon.tui.widgets.pick_list import PickList
from tui_support import async_test, settle

PCAP = "pcap/tcpreplay_test.pcap"
SMALL = (80, 24)


class TextCount:
    """Counts rich ``Text`` objects built: what a list costs per item it lays out or renders."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        original = Text.__init__

        def counting(this, *args, **kwargs):
            self.n += 1
            original(this, *args, **kwargs)

        monkeypatch.setattr(Text, "__init__", counting)


def many_items(n: int = 10_000) -> list[Item]:
    """Preset-like items: short names, long filter expressions (what made fuzzy matching crawl)."""
    expr = " OR ".join(f"(TCP.Port == {p} AND IPv4.Address == 10.0.{p % 256}.{p // 256 % 256})" for p in range(40))
    items = []
    for k in range(n):
        name = f"Preset {k:05d} retransmits" if k % 2 else f"Preset {k:05d} resets"
        items.append(Item(f"id{k}", name, f"TCP · {expr[:80]}", f"TCP {expr} retransmit" if k % 3 == 0 else expr))
    return items


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


@async_test
async def test_a_keystroke_renders_only_the_visible_rows_of_10000_items(monkeypatch):
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        items = many_items()
        picked: list[str | None] = []
        app.push_screen(PickerScreen("Presets", items), picked.append)
        await pilot.pause(0.05)
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        counter = TextCount(monkeypatch)
        await type_text(pilot, "retransmit")
        await pilot.pause(0.05)
        # 10 keystrokes over 10,000 items: the old picker built a Text per matching item per keystroke
        assert counter.n < 1000, f"{counter.n} texts built for 10 keystrokes"
        shown = picker.shown
        # names first (5,000), then the items whose expression mentions it (every 6th)
        assert len(shown) == 5000 + 1667 and all("retransmits" in i.label for i in shown[:5000])
        assert len(picker.query("*")) < 20  # nothing per item in the DOM
        rows = picker.query_one(PickList).size.height
        before = picker.query_one(PickList).rendered
        await pilot.press("down", "down")
        await pilot.pause(0.05)
        assert picker.query_one(PickList).rendered - before <= 3 * rows
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert picked == [shown[2].id]


@async_test
async def test_add_a_column_picker_over_every_etw_field(monkeypatch):
    app = TracemonApp([])  # the demo trace: the registry holds every bundled ETW provider's fields
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        assert isinstance(app.screen, ColumnsScreen)
        counter = TextCount(monkeypatch)
        await pilot.press("a")
        await pilot.pause(0.05)
        picker = app.screen
        assert isinstance(picker, PickerScreen) and len(picker.items) > 5000
        await type_text(pilot, "SwitchFName")
        await pilot.pause(0.05)
        assert counter.n < 1500, f"{counter.n} texts built to open the picker and type 11 letters"
        first = picker.shown[0]
        assert first.label.endswith(".SwitchFName"), first.label
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert isinstance(app.screen, ColumnsScreen)
        assert first.id in app.screen.names


def test_a_growing_query_looks_only_at_the_last_matches():
    names = [f"Field{k}.{'SwitchName' if k % 10 == 0 else 'Other'}" for k in range(10_000)]
    r = Ranker(names)
    r.rank("s")
    assert r.examined == 10_000
    got = r.rank("switchn")
    assert r.examined < 10_000 and got == [k for k in range(0, 10_000, 10)]
    # names first: the name, its last part, a prefix, a word start, inside, letters in order, other text
    r = Ranker(["xsrcports", "TCP.SrcPort", "srcport", "srcportx", "UDP.SrcPorts", "a.sxrcport", "other"],
               ["", "", "", "", "", "", "srcport"])
    assert r.rank("srcport") == [2, 1, 3, 4, 0, 5, 6]
