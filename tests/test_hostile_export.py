"""Issue 12 items 3 and 7 (export part): exports to `-`, devices, FIFOs and links, and no
temporary file left behind by an error, a directory target or SIGTERM."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tracemon.traces import safefile
from tracemon.tui.headless import main
from tui_support import write_udp_pcap

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_udp_pcap(tmp_path_factory.mktemp("exp") / "small.pcap", 50)


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _tracemon(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tracemon.tui.cli", *args], cwd=cwd, capture_output=True,
                          timeout=120, check=False)


def test_dash_is_standard_output(small: Path, tmp_path: Path) -> None:
    r = _tracemon("export", str(small), "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout[:4] == PCAPNG_MAGIC
    assert not (tmp_path / "-").exists()
    assert b"to standard output" in r.stderr
    r = _tracemon("export", str(small), "-", "--format", "csv", "-c", "number,source", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == b"Frame Number,Source"
    assert len(r.stdout.splitlines()) == 51
    assert os.listdir(tmp_path) == []


def _read_fifo(path: Path, out: list[bytes]) -> threading.Thread:
    def run() -> None:
        with open(path, "rb") as f:
            out.append(f.read())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("through_link", [False, True])
def test_fifo_is_written_in_place(small: Path, tmp_path: Path, through_link: bool,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = fifo
    if through_link:
        target = tmp_path / "link"
        target.symlink_to(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    assert main(["export", str(small), str(target)]) == 0
    reader.join(30)
    assert got and got[0][:4] == PCAPNG_MAGIC
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    if through_link:
        assert target.is_symlink() and os.readlink(target) == str(fifo)
    assert sorted(os.listdir(tmp_path)) == sorted({"fifo", target.name})


def test_device_is_written_in_place(small: Path, tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    assert main(["export", str(small), str(link)]) == 0
    assert link.is_symlink() and stat.S_ISCHR(link.stat().st_mode)


def test_link_to_a_file_stays_a_link_and_the_mode_is_kept(small: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o644)
    link = tmp_path / "out.csv"
    link.symlink_to(real.name)
    assert main(["export", str(small), str(link), "-c", "number"]) == 0
    assert link.is_symlink()
    assert real.read_text().splitlines()[:2] == ["Frame Number", "1"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    assert _temps(tmp_path) == []


def test_new_file_gets_the_umask_mode(small: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["export", str(small), str(tmp_path / "new.pcapng")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.pcapng").stat().st_mode) == 0o644


def test_a_directory_target_is_refused_and_leaves_nothing(small: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    assert main(["export", str(small), str(folder)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(folder) == []


def test_temporary_files_of_dead_writers_are_swept(small: Path, tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".out.pcapng.{dead}.0123abcd{safefile.SUFFIX}"
    stale.write_bytes(b"half")
    mine = tmp_path / f".out.pcapng.{os.getpid()}.0123abcd{safefile.SUFFIX}"
    mine.write_bytes(b"in progress")
    other = tmp_path / ".unrelated"
    other.write_bytes(b"keep")
    assert main(["export", str(small), str(tmp_path / "out.pcapng")]) == 0
    assert not stale.exists()
    assert mine.exists() and other.exists()  # a live writer's file, and files that are not ours


def test_sigterm_during_an_export_leaves_no_temporary_file(tmp_path: Path) -> None:
    big = write_udp_pcap(tmp_path / "big.pcap", 300_000)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "frames.csv"
    proc = subprocess.Popen([sys.executable, "-m", "tracemon.tui.cli", "export", str(big), str(target),
                             "-c", "number,source,description"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = False
        while proc.poll() is None:  # wait for the export to start writing (its temporary file)
            if _temps(out):
                seen = True
                break
            time.sleep(0.01)
        if not seen:
            pytest.skip("the export finished before it could be interrupted")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 128 + signal.SIGTERM
    assert os.listdir(out) == []


@pytest.mark.parametrize("name", ["-", "/dev/tty", "/dev/stdout"])
def test_the_tui_does_not_export_onto_its_own_terminal(small: Path, tmp_path: Path, name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tracemon.tui.app import TracemonApp
    from tracemon.tui.screens.export import ExportScreen, _is_terminal
    from tui_support import async_test, settle

    monkeypatch.chdir(tmp_path)
    if name != "-" and not _is_terminal(Path(name)):
        pytest.skip(f"{name} is not a character device here")

    @async_test
    async def run() -> None:
        app = TracemonApp([str(small)])
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("e")
            assert isinstance(app.screen, ExportScreen)
            app.screen.query_one("#export-path").value = name
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert isinstance(app.screen, ExportScreen)  # refused: the dialog stays with a message
            assert "terminal" in str(app.screen.query_one("#export-message").render())

    run()
    assert os.listdir(tmp_path) == []
