"""Shared fixtures: sample files from ../shared/samples (never copied into the project)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _find_samples() -> Path:
    """``../shared/samples`` beside the project root (or TRACEMON_SAMPLES); CI clones elsewhere too."""
    env = os.environ.get("TRACEMON_SAMPLES")
    if env:
        return Path(env)
    for candidate in (ROOT.parent / "shared" / "samples", Path("/work/shared/samples")):
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "samples"


SAMPLES = _find_samples()
SHARED = SAMPLES.parent


def sample(rel: str) -> Path:
    path = SAMPLES / rel
    if not path.exists():
        pytest.skip(f"sample {rel} not found under {SAMPLES}")
    return path


def samples(kind: str, *suffixes: str) -> list[Path]:
    folder = SAMPLES / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not suffixes or p.suffix in suffixes)


def require_tool(name: str) -> str:
    """The path of a Wireshark tool (tshark, editcap …): a skip when it is absent, a failure when
    TRACEMON_REQUIRE_TSHARK says the run must compare with it (CI)."""
    exe = shutil.which(name)
    if exe is None:
        if os.environ.get("TRACEMON_REQUIRE_TSHARK"):
            pytest.fail(f"{name} is required (TRACEMON_REQUIRE_TSHARK is set) but not installed")
        pytest.skip(f"{name} not installed")
    return exe


def require_tshark() -> str:
    return require_tool("tshark")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real cache, config and data dirs, and from each
    other's settings and sessions (a session saved by one test would be offered in the next)."""
    base = tmp_path_factory.getbasetemp()
    own = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(own / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(own / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdgcache"))



@pytest.fixture
def etw_names() -> None:
    """The bundled ETW schemas' names in the registry (field-column tests ask for it module-wide)."""
    from tracemon.filters.names import ensure_etw

    ensure_etw()


@pytest.fixture(scope="module")
def vms_etl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compressed synthetic VmSwitch ETL of 3,000 events (``benchmarks/bench_etl.write_trace``),
    made once per test module."""
    import sys

    bench = str(ROOT / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from bench_etl import write_trace

    path = tmp_path_factory.mktemp("vms") / "vms.etl"
    write_trace(path, 3000, compressed=True)
    return path

#: what ``-m "not slow"`` leaves out (each takes seconds to minutes on a 2-core machine): whole
#: modules that drive tmux, tshark over merged samples or hypothesis over every frame, tests on
#: the 1 M-frame pcap, and the few long comparisons below
SLOW_MODULES = {"test_tui_tmux.py", "test_filter_tshark.py", "test_dissect_robustness.py"}
SLOW_TESTS = {"test_index_path_agrees_with_decoding_on_every_frame", "test_pktmon_packets_match_pktmon_format_text",
              "test_columns_dialog_adds_removes_and_reorders", "test_presets_commands",
              "test_check_explains_and_fails_with_the_position", "test_fuzz_mutated_samples",
              "test_inflated_buffers_kept_for_browsing_are_bounded_in_bytes",
              "test_link_filters_select_what_tshark_selects",
              "test_the_table_holds_every_field_at_a_fixed_place",
              "test_every_fixed_column_matches_the_dissector_on_etl_packets",
              "test_index_and_dissector_give_the_same_layer_offsets_in_etl_records",
              "test_app_filters_select_what_tshark_selects"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        if (item.path.name in SLOW_MODULES or name in SLOW_TESTS
                or "million" in getattr(item, "fixturenames", ())):
            item.add_marker(slow)
