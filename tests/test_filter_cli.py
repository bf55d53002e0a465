"""``tracemon count``, ``check`` and ``presets`` as a user runs them (the real entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, require_tshark

PCAP = SAMPLES / "pcap" / "tcpreplay_test.pcap"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracemon.tui.cli", *args], check=False, capture_output=True, text=True,
                          input=stdin, timeout=120, env=os.environ.copy())


@pytest.fixture(autouse=True)
def _sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not PCAP.exists():
        pytest.skip("sample missing")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # this test damages its presets file


def test_count_equals_tshark_and_exit_codes() -> None:
    exe = require_tshark()
    want = subprocess.run([exe, "-n", "-r", str(PCAP), "-Y", "ip.addr == 172.16.11.12 && tcp.port == 443", "-T",
                           "fields", "-e", "frame.number"], check=False, capture_output=True, text=True).stdout.split()
    r = run("count", str(PCAP), "IPv4.Address == 172.16.11.12 AND TCP.Port == 443", "-v")
    assert r.returncode == 0 and r.stdout.strip() == str(len(want)) and "frames/s" in r.stderr
    r = run("count", str(PCAP), "TCP.Port == 1")
    assert r.returncode == 1 and r.stdout.strip() == "0"
    r = run("count", str(PCAP), "TCP.Port ==")
    assert r.returncode == 3 and "expected a value after ==" in r.stderr and "^" in r.stderr
    r = run("count", str(PCAP.with_suffix(".missing")), "tcp")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_check_explains_and_fails_with_the_position() -> None:
    r = run("check", "tcp.port == 80 AND Property.TCPRetransmit")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == "valid: TCP.Port == 80 AND Property.TCPRetransmit"
    r = run("check", "(ipv4.address==<server IP> and tcp)")
    assert r.returncode == 3
    lines = r.stderr.splitlines()
    assert lines[0] == "(ipv4.address==<server IP> and tcp)" and lines[1] == " " * 15 + "^" * len("<server IP>")
    assert "placeholder" in r.stderr and "hint:" in r.stderr
    r = run("check", "--strict", "tcp.port = 80")
    assert r.returncode == 1 and "single =" in r.stdout
    r = run("check", "--json", "Tcp.flags.syn==1")
    doc = json.loads(r.stdout)
    assert doc["valid"] and doc["canonical"] == "TCP.Flags.Syn == 1" and doc["fields"] == ["TCP.Flags.Syn"]
    r = run("check", "--json", "Property.tcpretranmits")
    doc = json.loads(r.stdout)
    assert r.returncode == 3 and not doc["valid"] and doc["error"]["suggestions"][0] == "Property.TCPRetransmit"
    r = run("check", "-", stdin="// from a file\nDNS OR\nARP\n")
    assert r.returncode == 0 and "valid: DNS OR ARP" in r.stdout
    r = run("check", "--trace", str(PCAP), "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP")
    assert r.returncode == 0 and "matches nothing in this trace" in r.stdout


def test_presets_commands(tmp_path: Path) -> None:
    r = run("presets", "list")
    assert r.returncode == 0 and "* VmSwitch: drops" in r.stdout
    r = run("presets", "save", "Web", "tcp.port == 80 OR tcp.port == 443", "--columns", "number,source", "--color",
            "green")
    assert r.returncode == 0
    r = run("presets", "show", "web")
    assert "expression: tcp.port == 80 OR tcp.port == 443" in r.stdout and "columns: number, source" in r.stdout
    out = tmp_path / "mine.toml"
    assert run("presets", "export", str(out)).returncode == 0
    assert run("presets", "rename", "Web", "Web2").returncode == 0
    assert run("presets", "delete", "Web2").returncode == 0
    assert run("presets", "show", "Web2").returncode == 2
    r = run("presets", "import", str(out))
    assert r.returncode == 0 and "Web" in r.stdout
    r = run("presets", "list", "--json")
    assert any(p["name"] == "Web" and not p["standard"] for p in json.loads(r.stdout))
    assert run("presets", "save", "bad", "tcp ==").returncode == 3
    path = Path(run("presets", "path").stdout.strip())
    path.write_text("[[preset]\n", encoding="utf-8")
    r = run("presets", "save", "x", "tcp")
    assert r.returncode == 2 and "damaged presets file" in r.stderr and ":1:" in r.stderr
    assert path.read_text(encoding="utf-8") == "[[preset]\n"


def test_list_with_filter_uses_the_compiler() -> None:
    r = run("list", str(PCAP), "--filter", "DNS AND ContainsBin(FrameData, ASCII, \"akamai\")", "--columns", "number")
    assert r.returncode == 0
    numbers = [int(x) for x in r.stdout.split() if x.isdigit()]
    exe = require_tshark()
    want = subprocess.run([exe, "-n", "-r", str(PCAP), "-Y", 'dns && frame contains "akamai"', "-T", "fields", "-e",
                           "frame.number"], check=False, capture_output=True, text=True).stdout.split()
    assert numbers == [int(x) for x in want] and numbers


def test_count_without_an_expression_counts_every_frame() -> None:
    exe = require_tshark()
    want = subprocess.run([exe, "-n", "-r", str(PCAP), "-T", "fields", "-e", "frame.number"], check=False,
                          capture_output=True, text=True).stdout.split()
    r = run("count", str(PCAP))
    assert r.returncode == 0 and r.stdout.strip() == str(len(want))


def test_presets_save_refuses_a_filter_that_names_nothing() -> None:
    r = run("presets", "save", "typo", "TCP.Prot == 443")
    assert r.returncode == 3 and "TCP has no field Prot" in r.stderr and "--force" in r.stderr
    assert run("presets", "show", "typo").returncode == 2
    r = run("presets", "save", "later", "Contoso_MyProvider.MyEvent", "--force")
    assert r.returncode == 0
    assert "expression: Contoso_MyProvider.MyEvent" in run("presets", "show", "later").stdout



def check(*argv: str) -> tuple[int, str]:
    """``tracemon check`` in this process (the subcommand's own parser and runner)."""
    import argparse
    import io

    from tracemon.filters.cli import add_arguments, run_check

    parser = argparse.ArgumentParser()
    add_arguments(parser.add_subparsers(dest="cmd"))
    out, err = io.StringIO(), io.StringIO()
    code = run_check(parser.parse_args(["check", *argv]), out, err)
    return code, out.getvalue() + err.getvalue()


def test_check_says_where_each_condition_is_answered_from() -> None:
    expr = 'IPv4.TTL < 5 AND TCP.Port == 443 OR ICMP.Identifier == 2 OR TCP.Window > IPv4.TTL OR Property.TCPRetransmit'
    code, text = check(expr)
    lines = text.splitlines()
    assert code == 0
    assert lines[1] == ("  IPv4.TimeToLive < 5: field column (gather at byte 8 of IPv4, in traces with packets in "
                        "the file; extracted once for every frame, then kept); decoding only frames it cannot tell")
    assert lines[2].startswith("  TCP.Port == 443: index columns; frames that may hold a second instance")
    assert lines[3].startswith("  ICMP.Identifier == 2: decoding every frame carrying ICMP (unless the trace has")
    assert lines[4] == "  TCP.Window > IPv4.TimeToLive: decoding"
    code, text = check("--json", "--trace", str(PCAP), expr)
    doc = json.loads(text)
    kinds = [[f["source"] for f in c["fields"]] for c in doc["sources"]]
    assert kinds[:4] == [["column"], ["index", "index"], ["decode"], ["decode", "decode"]]
    assert doc["sources"][0]["fields"][0]["how"].startswith("field column (gather at byte 8 of IPv4;")
