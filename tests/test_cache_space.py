"""Index cache hygiene: a size limit with least-recently-used eviction, tracemon cache list|clear
(issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import sample
from tracemon.traces import cache, cache_space, open_trace

PCAP = "pcap/tcpreplay_test.pcap"


@pytest.fixture
def traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    out = []
    for name in ("a", "b", "c"):
        p = tmp_path / f"{name}.pcap"
        shutil.copy(sample(PCAP), p)
        out.append(p)
    return out


def _cached(paths: list[Path]) -> set[str]:
    return {Path(e.trace_path).name for e in cache_space.entries(cache.cache_root())}


def _age(path: Path, seconds: float) -> None:
    """Make an entry look used ``seconds`` ago (mtimes, not sleeps)."""
    entry = cache.cache_root() / cache.key_for(open_trace(path, load=False))
    t = time.time() - seconds
    os.utime(entry, (t, t))


def test_the_least_recently_used_entry_goes_first(traces: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = traces
    open_trace(a)
    open_trace(b)
    size = max(e.size for e in cache_space.entries(cache.cache_root()))
    _age(a, 300)
    _age(b, 200)
    assert open_trace(a).from_cache  # a is used again: now b is the oldest
    monkeypatch.setenv("TRACEMON_CACHE_MAX", str(2 * size + size // 2))
    open_trace(c)
    assert _cached(traces) == {"a.pcap", "c.pcap"}


def test_the_entry_just_written_is_kept_even_over_the_limit(traces: list[Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MAX", "1")
    open_trace(traces[0])
    open_trace(traces[1])
    assert _cached(traces) == {"b.pcap"}
    assert open_trace(traces[1]).from_cache


def test_a_limit_of_zero_turns_the_cache_off(traces: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MAX", "0")
    open_trace(traces[0])
    assert not open_trace(traces[0]).from_cache and _cached(traces) == set()


@pytest.mark.parametrize(("text", "size"), [("4G", 4 << 30), ("500M", 500 << 20), ("1.5 GiB", 3 << 29), ("123", 123)])
def test_sizes(text: str, size: int) -> None:
    assert cache_space.parse_size(text) == size


def test_a_bad_size_in_the_config_is_reported_and_the_default_kept(tmp_path: Path) -> None:
    from tracemon.tui import config

    path = tmp_path / "config.toml"
    path.write_text('cache_limit = "lots"\n', encoding="utf-8")
    cfg = config.load(path)
    assert cfg.cache_limit == "4G" and any("cache_limit" in p for p in cfg.problems)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracemon.tui.cli", *args], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy(), check=False)


def test_cache_list_and_clear(traces: list[Path]) -> None:
    for p in traces:
        open_trace(p)
    listed = json.loads(_cli("cache", "list", "--json").stdout)
    assert sorted(Path(e["trace"]).name for e in listed) == ["a.pcap", "b.pcap", "c.pcap"]
    assert all(e["frames"] == 179 and e["bytes"] > 0 for e in listed)
    text = _cli("cache", "list").stdout
    assert text.startswith("3 entries") and "a.pcap" in text
    out = _cli("cache", "clear", str(traces[0]))
    assert out.returncode == 0 and out.stdout.startswith("removed 1 entries")
    assert _cached(traces) == {"b.pcap", "c.pcap"}
    assert _cli("cache", "clear").stdout.startswith("removed 2 entries")
    assert _cached(traces) == set()
    assert _cli("cache", "path").stdout.strip() == str(cache.cache_root())
