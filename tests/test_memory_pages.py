"""The mapped trace does not stay in the process's memory after the work that read it: a 1 M-frame
pcap kept ~430 MB of its pages resident in the TUI (issue 11: peak RSS ≤ 400 MB)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tui_support import write_udp_pcap

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")

SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TRACEMON_NO_CACHE"] = "1"
    from tracemon.traces import open_trace
    from tracemon.filters import compile_filter

    def rss_file():
        for line in open("/proc/self/status"):
            if line.startswith("RssFile"):
                return int(line.split()[1]) * 1024
    base = rss_file()
    t = open_trace(sys.argv[1], load=False)
    t.load(use_cache=False)
    after_scan = rss_file() - base
    cf = compile_filter("Property.TCPRetransmit", trace=t)  # reads every TCP segment's bytes
    cf.evaluate(t)
    touched = rss_file() - base
    t.release_pages()
    print(after_scan, touched, rss_file() - base, t.size)
""")


def test_scanned_and_filtered_pages_are_given_back(tmp_path: Path) -> None:
    path = write_udp_pcap(tmp_path / "big.pcap", 400_000)  # ~30 MB
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True,
                         timeout=300).stdout.split()
    after_scan, touched, released, size = (int(x) for x in out)
    assert after_scan < size // 4, f"{after_scan} of {size} bytes still resident after the scan"
    assert released < size // 4, f"{released} of {size} bytes still resident after release_pages"
    assert touched >= released
