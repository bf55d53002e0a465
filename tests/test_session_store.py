"""Sessions on disk: round trip, changed files, damage, pruning (issue 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tracemon.tui import session as S


@pytest.fixture
def store(tmp_path: Path) -> S.SessionStore:
    return S.SessionStore(tmp_path / "sessions")


def _session(path: str, **kw) -> S.Session:
    return S.Session(os.path.abspath(path), 100, 5, **kw)


def test_round_trip(store: S.SessionStore, tmp_path: Path) -> None:
    s = _session(str(tmp_path / "t.etl"), filter="TCP.Port == 443", preset="", columns=["number", "time"],
                 time_mode="local", reference=3, marks=[9, 2], frame=41, sort=["protocol", True])
    assert store.save(s)
    got = store.load(str(tmp_path / "t.etl"))
    assert got is not None and got.marks == [2, 9] and got.sort == ["protocol", True] and got.frame == 41
    assert got.filter == s.filter and got.columns == s.columns and got.time_mode == "local"
    assert got.describe() == "filter TCP.Port == 443, 2 marks, reference frame 4, sorted by protocol, at frame 42"
    assert store.load(str(tmp_path / "other.etl")) is None


def test_a_changed_file_keeps_no_frame_numbers(tmp_path: Path) -> None:
    s = _session(str(tmp_path / "t.etl"), filter="ARP", marks=[1], frame=7, reference=2, sort=["time", False])
    assert s.same_contents(100, 5) and not s.same_contents(200, 5)
    changed = s.for_changed_file()
    assert changed.filter == "ARP" and not changed.marks and changed.frame is None and changed.reference is None


@pytest.mark.parametrize("text", ["{", '{"version": 1, "path": 5}', "[]", '{"version": 1}'])
def test_a_damaged_session_is_ignored_and_reported(store: S.SessionStore, tmp_path: Path, text: str) -> None:
    path = str(tmp_path / "t.etl")
    store.save(_session(path, filter="ARP"))
    store._file(path).write_text(text, "utf-8")
    assert store.load(path) is None


def test_sessions_are_pruned_oldest_first(store: S.SessionStore, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(S, "MAX_SESSIONS", 3)
    for n in range(5):
        p = str(tmp_path / f"t{n}.etl")
        store.save(_session(p, filter="ARP"))
        t = 1_000_000 + n
        os.utime(store._file(p), (t, t))
    store.save(_session(str(tmp_path / "last.etl"), filter="ARP"))
    left = sorted(p.name for p in store.folder.glob("*.json"))
    assert len(left) == 3 and store.load(str(tmp_path / "last.etl")) is not None
    assert store.load(str(tmp_path / "t0.etl")) is None


def test_an_unwritable_folder_is_a_problem_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = S.SessionStore(blocker / "sessions")
    assert not store.save(_session(str(tmp_path / "t.etl"), filter="ARP"))
    assert store.problems and "could not be saved" in store.problems[0]


def test_empty_sessions_are_not_worth_offering() -> None:
    assert _session("/x").empty
    assert not _session("/x", marks=[1]).empty
