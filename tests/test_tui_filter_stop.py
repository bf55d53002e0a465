"""A stopped filter leaves nothing behind: what its worker had already posted (rows found so far,
or even its finished mask) arrives after the stop and must not be shown or applied.  This raced
in test_filter_runs_in_the_background… on a loaded machine (4,098 partial rows stayed)."""

from __future__ import annotations

import numpy as np
from conftest import sample
from tracemon.tui import messages as m
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle


@async_test
async def test_messages_of_a_stopped_evaluation_are_ignored():
    app = TracemonApp([str(sample("pcap/tcpreplay_test.pcap"))])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        n = len(screen.trace)
        # a running evaluation, as far as the screen knows, stopped by a keystroke
        gen = screen._filter_gen
        screen._filter_running = True
        screen._fall_back()
        # what its worker posted just before it saw the stop
        screen.post_message(m.FilterProgress(gen, np.array([1, 2, 3], dtype=np.uint32), 4, n))
        screen.post_message(m.FilterDone(gen, np.zeros(n, dtype=bool), 0))
        await settle(app, pilot)
        assert len(screen.view) == n and screen.filter_mask is None and screen.cf is None
