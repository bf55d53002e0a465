"""Picker responsiveness: a keystroke with 10,000 items (issue 11, defect 3).

    python benchmarks/bench_pickers.py

Two lists: 10,000 preset-like items (short names, long filter expressions: what made the old
fuzzy matching take ~42 s for "retransmit"), and every field the registry holds once the bundled
ETW providers are declared (~12,800 names: the Add-a-column picker, ~22 s for "Switch" before).
For each query typed one key at a time the table gives the matcher's time per keystroke (median
and worst) and, through Textual's Pilot, keystroke → screen idle again (match, list update and
repaint of the picker), plus the items rendered; a 10-item list gives Pilot's own cost.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def preset_like(n: int = 10_000) -> list:
    from tracemon.tui.screens.picker import Item

    expr = " OR ".join(f"(TCP.Port == {p} AND IPv4.Address == 10.0.{p % 256}.{p // 256 % 256})" for p in range(40))
    return [Item(f"id{k}", f"Preset {k:05d} " + ("retransmits" if k % 2 else "resets"), f"TCP · {expr[:80]}",
                 f"TCP {expr} retransmit" if k % 3 == 0 else expr) for k in range(n)]


def every_field() -> list:
    from tracemon.traces.etw.naming import ensure_registered
    from tracemon.traces.fields import REGISTRY
    from tracemon.tui.screens.columns import field_items

    ensure_registered(REGISTRY)
    return field_items(REGISTRY, [])


def match_times(items: list, query: str) -> list[float]:
    from tracemon.tui.matching import Ranker

    r = Ranker([i.label for i in items], [i.search for i in items])
    out = []
    for k in range(1, len(query) + 1):
        t0 = time.perf_counter()
        r.rank(query[:k])
        out.append(time.perf_counter() - t0)
    return out


async def pilot_times(items: list, query: str) -> tuple[list[float], int]:
    from textual.app import App
    from tracemon.tui.screens.picker import PickerScreen
    from tracemon.tui.widgets.pick_list import PickList

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(PickerScreen("bench", items))

    app = Host()
    times = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        lst = app.screen.query_one(PickList)
        rendered = lst.rendered
        for ch in query:
            t0 = time.perf_counter()
            await pilot.press(ch)
            await pilot.pause()
            times.append(time.perf_counter() - t0)
        rendered = lst.rendered - rendered
    return times, rendered


def main() -> int:
    # the 10-item row is Pilot's own cost of a keystroke and a repaint on this machine
    cases = [("presets", preset_like(10), "retransmit"), ("presets", preset_like(), "retransmit"), ("fields", every_field(), "Switch"),
             ("fields", every_field(), "SwitchFName")]
    print(f"{'list':8} {'items':>7} {'query':12} {'match med':>10} {'match max':>10} "
          f"{'key→idle med':>13} {'key→idle max':>13} {'rows rendered':>14}")
    for what, items, query in cases:
        m = match_times(items, query)
        p, rendered = asyncio.run(pilot_times(items, query))
        print(f"{what:8} {len(items):7,} {query:12} {statistics.median(m) * 1e3:8.1f}ms {max(m) * 1e3:8.1f}ms "
              f"{statistics.median(p) * 1e3:11.1f}ms {max(p) * 1e3:11.1f}ms {rendered:14,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
