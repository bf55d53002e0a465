"""Issue 12 items 8-11: presets and settings under concurrent writers, huge, hostile and
unwritable files, and presets.toml behind a symlink."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from tracemon.filters import presets as presets_mod
from tracemon.filters.presets import (
    Preset,
    PresetFileError,
    PresetStore,
    PresetWriteError,
    parse_presets,
    render,
)
from tracemon.tui import config as _config
from tracemon.tui.headless import main

# -- item 8: concurrent saves ------------------------------------------------------------------


def test_a_save_waits_for_another_saves_read_modify_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A is between reading and writing the file when B saves: B must not work from the file A
    read (before the lock, B's write replaced A's and A's preset was lost)."""
    path = tmp_path / "presets.toml"
    PresetStore(path).save(Preset("base", "TCP"))
    a_writing, b_done = threading.Event(), threading.Event()
    real = presets_mod.atomic_write

    def slow_write(p: Path, text: str) -> None:
        if threading.current_thread().name == "A":
            a_writing.set()
            b_done.wait(1.0)  # B finishes meanwhile unless a lock holds it back
        real(p, text)

    monkeypatch.setattr(presets_mod, "atomic_write", slow_write)
    a = threading.Thread(target=lambda: PresetStore(path).save(Preset("from-a", "UDP")), name="A")
    a.start()
    assert a_writing.wait(30)

    def b() -> None:
        PresetStore(path).save(Preset("from-b", "ARP"))
        b_done.set()

    tb = threading.Thread(target=b, name="B")
    tb.start()
    a.join(30)
    tb.join(30)
    names = {p.name for p in parse_presets(path.read_text(), path)[0]}
    assert names == {"base", "from-a", "from-b"}


def test_many_processes_saving_at_once_keep_every_preset(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "presets.toml"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_save_many, args=(str(path), k, start)) for k in range(6)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    names = {p.name for p in parse_presets(path.read_text(), path)[0]}
    assert names == {f"p{k}-{n}" for k in range(6) for n in range(8)}


def _save_many(path: str, k: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    store = PresetStore(path)
    for n in range(8):
        store.save(Preset(f"p{k}-{n}", "TCP"))


# -- item 9: reading is linear ------------------------------------------------------------------


class _CountingText(str):
    """A str that adds up how many characters ``count`` scans (the header line numbers)."""

    scanned = 0

    def count(self, sub: str, start: int | None = 0, end: int | None = None) -> int:  # type: ignore[override]
        lo = start or 0
        hi = len(self) if end is None else end
        _CountingText.scanned += max(0, hi - lo)
        return super().count(sub, lo, hi)


def test_reading_presets_scans_the_text_a_bounded_number_of_times() -> None:
    text = render([Preset(f"p{i}", f"TCP.Port == {i}") for i in range(3000)], [])
    _CountingText.scanned = 0
    presets, _ = parse_presets(_CountingText(text), "presets.toml")
    assert len(presets) == 3000
    assert _CountingText.scanned <= 2 * len(text)  # was ~1,500 times the text (one scan per header)


def test_header_lines_are_still_reported() -> None:
    text = render([Preset("a", "TCP"), Preset("b", "UDP")], []) + '\n[[preset]]\nname = "c"\n'
    with pytest.raises(PresetFileError) as e:
        parse_presets(text, "presets.toml")
    assert e.value.line == text[: text.rindex("[[preset]]")].count("\n") + 1
    assert "no expression" in str(e.value)


# -- item 10: unreadable settings, deep TOML, read-only folders -----------------------------------

DEEP = "x = " + "[" * 3000 + "]" * 3000 + "\n"


def test_config_not_utf8_is_a_problem_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "tracemon-light"\n\xff\xfe\n')
    cfg = _config.load(path)
    assert cfg.theme == _config.Config().theme
    assert len(cfg.problems) == 1 and str(path) in cfg.problems[0] and "UTF-8" in cfg.problems[0]
    assert "\n" not in cfg.problems[0]


def test_config_nested_too_deep_is_a_problem_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(DEEP)
    cfg = _config.load(path)
    assert len(cfg.problems) == 1 and str(path) in cfg.problems[0] and "nested" in cfg.problems[0]


def test_presets_nested_too_deep_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "presets.toml"
    path.write_text(DEEP)
    store = PresetStore(path)
    assert any(p.standard for p in store.list())  # the standard presets stay available
    assert store.problem is not None and "nested" in str(store.problem)


def _read_only(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores permissions
        folder.chmod(0o755)
        pytest.skip("running as root: a read-only folder is writable")


def test_saving_presets_into_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    _read_only(folder)
    try:
        with pytest.raises(PresetWriteError, match=str(folder)):
            PresetStore(folder / "presets.toml").save(Preset("x", "TCP"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
        assert main(["presets", "save", "x", "TCP"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "presets.toml" in err and "Traceback" not in err
    finally:
        folder.chmod(0o755)


def test_saving_presets_when_the_file_cannot_be_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The same as a read-only folder, for root too: the rename fails with EACCES."""
    def refuse(*a: object, **k: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["presets", "save", "x", "TCP"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracemon: ") and "presets.toml" in err and "Permission denied" in err
    assert len(err.splitlines()) == 1


# -- item 11: a symlinked presets.toml ------------------------------------------------------------

def test_presets_through_a_symlink_keep_the_link_and_the_mode(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "presets.toml"
    real.write_text(render([Preset("old", "TCP")], []))
    real.chmod(0o640)
    link = tmp_path / "config" / "presets.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    PresetStore(link).save(Preset("new", "UDP"))
    assert link.is_symlink() and link.resolve() == real
    assert {p.name for p in parse_presets(real.read_text())[0]} == {"old", "new"}
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_a_new_presets_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        PresetStore(tmp_path / "presets.toml").save(Preset("x", "TCP"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "presets.toml").stat().st_mode) == 0o644


def test_bad_column_widths_in_the_config_are_a_problem_not_an_error(tmp_path) -> None:
    from tracemon.tui import config

    path = tmp_path / "config.toml"
    path.write_text('[column_widths]\nprotocol = "wide"\n', encoding="utf-8")
    cfg = config.load(path)
    assert cfg.column_widths == {} and any("column_widths" in p for p in cfg.problems)
    path.write_text('[column_widths]\nprotocol = 20\n', encoding="utf-8")
    assert config.load(path).column_widths == {"protocol": 20}
