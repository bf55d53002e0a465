"""The headless command line: list, show, stats, export — run as a user would, in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import require_tshark, sample
from tracemon.traces import open_trace
from tracemon.traces.columns import STANDARD
from tracemon.traces.export import write_pcapng, write_table

PCAP = "pcap/tcpreplay_test.pcap"


def tracemon(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "tracemon.tui.cli", *args], capture_output=True, text=True,
                         timeout=120, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"tracemon {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out


def test_list_text_json_csv() -> None:
    path = str(sample(PCAP))
    text = tracemon("list", path, "--limit", "3").stdout.splitlines()
    assert text[0].split()[:2] == ["Frame", "Number"]
    assert len(text) == 4 and text[1].split()[0] == "1"
    rows = json.loads(tracemon("list", path, "--format", "json").stdout)
    assert len(rows) == 179
    assert rows[0]["Frame Number"] == 1 and rows[0]["Time"].startswith("2010-07-07 03:16:19.4667430")
    assert rows[0]["Process"] is None and rows[1]["Time Offset"] == 0.000722
    table = list(csv.reader(io.StringIO(tracemon("list", path, "--format", "csv", "--columns",
                                                 "number,protocol,Ethernet.SourceAddress").stdout)))
    assert table[0] == ["Frame Number", "Protocol Name", "Ethernet.SourceAddress"]
    trace = open_trace(sample(PCAP))
    assert table[1][2] == trace.frame(0).fields("Ethernet.SourceAddress")[0].display


def test_json_numbers_are_numbers_and_repeated_fields_lists() -> None:
    rows = json.loads(tracemon("list", str(sample(PCAP)), "--format", "json", "--limit", "2", "--columns",
                               "number,IPv4.TimeToLive,TCP.Flags.Syn,IPv4.Address,Ethernet.SourceAddress").stdout)
    first = rows[0]
    assert first["Frame Number"] == 1 and first["IPv4.TimeToLive"] == 64 and first["TCP.Flags.Syn"] == 0
    assert first["IPv4.Address"] == ["172.16.11.12", "74.125.19.17"]
    assert isinstance(first["Ethernet.SourceAddress"], str)


def test_list_unknown_column_names_close_matches() -> None:
    out = tracemon("list", str(sample(PCAP)), "--columns", "number,Ethernet.SorceAddress", check=False)
    assert out.returncode == 2
    assert "unknown column" in out.stderr and "Ethernet.SourceAddress" in out.stderr


def test_show_tree_and_hex() -> None:
    out = tracemon("show", str(sample(PCAP)), "1").stdout
    assert out.startswith("Frame 1: ")
    assert "+ Ethernet:" in out and "SourceAddress: " in out
    trace = open_trace(sample(PCAP))
    first_hex = " ".join(f"{b:02X}" for b in trace.raw(0)[:16])
    assert f"0000  {first_hex}" in out
    data = json.loads(tracemon("show", str(sample(PCAP)), "2", "--format", "json").stdout)
    assert bytes.fromhex(data["hex"]) == trace.raw(1)
    assert data["layers"][1]["protocol"] == "Ethernet"


def test_show_out_of_range() -> None:
    out = tracemon("show", str(sample(PCAP)), "999", check=False)
    assert out.returncode == 2 and "no frame 999" in out.stderr and "179 frames" in out.stderr


def test_stats_counts_against_the_index() -> None:
    data = json.loads(tracemon("stats", str(sample(PCAP)), "--format", "json").stdout)
    assert data["frames"] == 179
    assert data["protocols"]["Ethernet"] == 179
    assert data["time_span"]["first"].startswith("2010-07-07 03:16:19.466743")
    top = data["eth_conversations"][0]
    assert top["frames"] >= data["eth_conversations"][-1]["frames"]
    text = tracemon("stats", str(sample(PCAP))).stdout
    assert "Frames:     179" in text


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.etl"
    junk.write_bytes(b"\x00" * 100)
    for target, needle in ((str(tmp_path / "missing.pcap"), "no such file"), (str(tmp_path), "directory"),
                           (str(junk), "unknown file format")):
        out = tracemon("list", target, check=False)
        assert out.returncode == 2
        assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_damaged_file_lists_what_was_kept(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(sample(PCAP).read_bytes()[:40000])
    out = tracemon("list", str(cut), "--format", "json")
    kept = json.loads(out.stdout)
    assert 0 < len(kept) < 179
    assert "warning" in out.stderr and "truncated record" in out.stderr


@pytest.mark.parametrize("name", [PCAP, "pcapng/pcapngtestgen_le_difficult_test202.pcapng"])
def test_export_pcapng_round_trip(name: str, tmp_path: Path) -> None:
    src = sample(name)
    dst = tmp_path / "out.pcapng"
    out = tracemon("export", str(src), str(dst))
    original = open_trace(src)
    copy = open_trace(dst, use_cache=False)
    packets = [i for i in range(len(original)) if original.frame(i).kind == "packet"]
    assert len(copy) == len(packets)
    for j, i in enumerate(packets):
        assert copy.raw(j) == original.raw(i)
        assert int(copy.index.ts[j]) == int(original.index.ts[i])
    skipped = len(original) - len(packets)
    if skipped:
        assert f"{skipped} non-packet frames skipped" in out.stderr
    exe = require_tshark()
    tshark = subprocess.run([exe, "-r", str(dst), "-T", "fields", "-e", "frame.len"], capture_output=True,
                            text=True, check=True)
    assert len(tshark.stdout.split()) == len(packets)


def test_export_csv(tmp_path: Path) -> None:
    dst = tmp_path / "frames.csv"
    tracemon("export", str(sample(PCAP)), str(dst), "--columns", "number,time,protocol")
    rows = list(csv.reader(dst.open()))
    assert rows[0] == ["Frame Number", "Time", "Protocol Name"] and len(rows) == 180


def test_time_offset_counts_from_a_first_frame_at_the_epoch(tmp_path: Path) -> None:
    frame = bytes.fromhex("ffffffffffff0011223344550806") + bytes(28)
    path = tmp_path / "epoch.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + b"".join(struct.pack("<IIII", sec, 0, len(frame), len(frame)) + frame for sec in (0, 5)))
    rows = list(csv.reader(io.StringIO(tracemon("list", str(path), "--format", "csv", "--columns",
                                                "number,offset").stdout)))
    assert rows[1:] == [["1", "0.0000000"], ["2", "5.0000000"]]


def test_a_cancelled_export_leaves_no_file(tmp_path: Path) -> None:
    trace = open_trace(sample(PCAP))
    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InterruptedError):
        write_pcapng(trace, range(len(trace)), out / "x.pcapng", cancel=cancel)
    with pytest.raises(InterruptedError):
        write_table(trace, range(len(trace)), [STANDARD["number"]], out / "x.csv", cancel=cancel)
    assert list(out.iterdir()) == []


def test_a_subcommand_ends_with_its_output_whole_and_its_cache_entry_written(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``cli.run`` ends a headless command without the interpreter's teardown (``_leave``): what
    the teardown would have finished must be finished: the index cache entry written on its own
    thread, and output still in the buffer of a stdout that is a file."""
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))  # (not the entries other tests left)
    path = str(sample(PCAP))
    out = tracemon("count", path, "TCP")
    assert out.stdout.strip() == "116"  # tshark -Y tcp
    listed = json.loads(tracemon("cache", "list", "--json").stdout)
    assert [(Path(e["trace"]).name, e["frames"]) for e in listed] == [("tcpreplay_test.pcap", 179)]
    with open(tmp_path / "list.csv", "w", encoding="utf-8") as f:  # block-buffered: flushed at the end
        done = subprocess.run([sys.executable, "-m", "tracemon.tui.cli", "list", path, "--format", "csv"], stdout=f,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "list.csv").read_text(encoding="utf-8").splitlines()) == 180


def test_a_subcommand_runs_the_exit_handlers_and_keeps_its_status() -> None:
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
            f"sys.argv = ['tracemon', 'count', {str(sample(PCAP))!r}, 'TCP.Port == 1']\n"
            "from tracemon.tui.cli import run\n"
            "run()\n"
            "print('run() returned', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # a count that matched nothing
    assert done.stdout == "0\n" and done.stderr == "handler ran\n"


class _Left(Exception):
    pass


def _leave_in_process(monkeypatch: pytest.MonkeyPatch, code: int) -> tuple[int, list[str]]:
    """``cli._leave(code)`` with ``os._exit`` and the exit handlers caught (they are this test
    process's own): the status it left with, and what it did, in order."""
    from tracemon.tui import cli

    done: list[str] = []

    def exit_(status: int) -> None:
        done.append("exit")
        raise _Left(status)

    monkeypatch.setattr(cli.os, "_exit", exit_)
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: done.append("handlers"))
    with pytest.raises(_Left) as left:
        cli._leave(code)
    return left.value.args[0], done


def test_leaving_waits_for_the_threads_that_finish_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    go = threading.Event()
    done: list[str] = []

    def writer() -> None:  # the index cache writer's place: a thread that is not a daemon
        go.wait()
        done.append("written")

    t = threading.Thread(target=writer)
    t.start()
    threading.Thread(target=lambda: (time.sleep(0.2), go.set()), daemon=True).start()
    status, order = _leave_in_process(monkeypatch, 0)
    assert status == 0 and done == ["written"] and not t.is_alive()
    assert order == ["handlers", "exit"]


@pytest.mark.parametrize(("code", "left"), [(0, 120), (1, 1)])
def test_leaving_with_an_output_that_cannot_be_flushed(monkeypatch: pytest.MonkeyPatch, code: int, left: int) -> None:
    class Gone(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Gone())
    assert _leave_in_process(monkeypatch, code)[0] == left  # as the interpreter's exit: 120
