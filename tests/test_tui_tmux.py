"""The tmux walkthroughs (tests/tmux_walkthrough.py) under pytest: the real program, a real terminal."""

from __future__ import annotations

import shutil

import pytest
import tmux_walkthrough as walk
from conftest import sample

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


@pytest.mark.parametrize("scenario", walk.WALKS, ids=lambda f: f.__name__)
def test_walkthrough(scenario, tmp_path):
    sample("pcap/tcpreplay_test.pcap")
    scenario(tmp_path)
