"""Presets and history: TOML under the user config/data dirs, atomic, never overwriting damage."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from tracemon.filters import (
    FilterError,
    History,
    Preset,
    PresetError,
    PresetFileError,
    PresetStore,
    compile_filter,
)
from tracemon.filters.presets import PresetWriteError, default_path, parse_presets, render


def test_default_location_is_the_user_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "tracemon" / "presets.toml"
    store = PresetStore()
    store.save(Preset("mine", "tcp"))
    assert default_path().is_file()


def test_standard_presets_are_there_on_first_run_and_all_compile(tmp_path: Path) -> None:
    store = PresetStore(tmp_path / "presets.toml")
    names = [p.name for p in store.list()]
    required = ["VmSwitch: hide datapath noise", "VmSwitch: drops", "VmSwitch: incoming drops",
                "VmSwitch: outgoing drops", "VmSwitch: extension drops", "VmSwitch: switch, port and NIC configuration",
                "PktMon: drops", "TCP resets", "TCP retransmits", "TCP SYNs without answer", "DNS", "ARP", "DHCP",
                "ICMP", "Broadcast and multicast", "Process by name", "USB Hub Errors"]
    for name in required:
        assert name in names, name
    assert all(p.standard for p in store.list())
    brief = ("!(VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER OR VMSWITCH_MicrosoftWindowsHyperVVmSwitch."
             "VM_NBL_RECEIVE OR VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_ROUTE)")
    assert store.get("vmswitch: HIDE datapath noise").expression == brief  # type: ignore[union-attr]
    assert store.get("VmSwitch: drops").color == "red"  # type: ignore[union-attr]
    assert store.get("TCP resets").color == "orange"  # type: ignore[union-attr]
    for p in store.standard():
        cf = compile_filter(p.expression)
        # only the USB providers are unknown to the bundled schemas
        assert not cf.warnings or p.category == "USB", (p.name, [str(w) for w in cf.warnings])
    assert not (tmp_path / "presets.toml").exists()  # listing never writes


def test_save_rename_delete_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "presets.toml"
    store = PresetStore(path)
    tricky = 'Description == "say \\"hi\\"\\\\" // a comment\nOR tcp.port == 80\t'
    store.save(Preset("Web", tricky, ["number", "time", "TCP.SrcPort"], "blue", "web traffic", "Mine"))
    again = PresetStore(path).get("web")
    assert again == Preset("Web", tricky, ["number", "time", "TCP.SrcPort"], "blue", "web traffic", "Mine")
    store.save(Preset("WEB", "tcp.port == 443"))  # same name, any case: replaces
    assert [p.name for p in store.list() if not p.standard] == ["WEB"]
    store.rename("web", "Secure web")
    assert store.get("WEB") is None and store.get("Secure web").expression == "tcp.port == 443"  # type: ignore[union-attr]
    with pytest.raises(PresetError, match="already exists"):
        store.rename("Secure web", "DNS")
    with pytest.raises(PresetError, match="standard preset"):
        store.rename("DNS", "Names")
    with pytest.raises(PresetError, match="no preset"):
        store.delete("nope")
    store.delete("Secure web")
    assert store.get("Secure web") is None
    with pytest.raises(FilterError):
        store.save(Preset("bad", "tcp.port =="))
    with pytest.raises(PresetError):
        store.save(Preset("", "tcp"))


def test_overriding_hiding_and_restoring_standard_presets(tmp_path: Path) -> None:
    store = PresetStore(tmp_path / "presets.toml")
    store.save(Preset("DNS", "DNS AND UDP.Port == 53", color="cyan"))
    dns = [p for p in store.list() if p.name == "DNS"]
    assert len(dns) == 1 and not dns[0].standard and dns[0].color == "cyan"
    store.delete("DNS")  # removes the override: the standard one is back
    assert store.get("DNS").standard  # type: ignore[union-attr]
    store.delete("DNS")  # hides the standard one
    assert store.get("DNS") is None
    store.restore_standard("DNS")
    assert store.get("DNS").standard  # type: ignore[union-attr]


def test_a_damaged_file_is_reported_with_line_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "presets.toml"
    text = 'version = 1\n\n[[preset]]\nname = "ok"\nexpression = "tcp"\n\n[[preset]]\nname = "broken\nexpression = "x"\n'
    path.write_text(text, encoding="utf-8")
    store = PresetStore(path)
    assert [p.name for p in store.list()] == [p.name for p in store.standard()]  # standard ones still there
    assert store.problem is not None and store.problem.line == 8
    assert "presets.toml:8" in str(store.problem)
    for change in (lambda: store.save(Preset("new", "udp")), lambda: store.delete("ok"),
                   lambda: store.rename("ok", "ok2"), lambda: store.import_file(path)):
        with pytest.raises(PresetFileError):
            change()
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(("body", "line", "fragment"), [
    ('[[preset]]\nname = "a"\n', 1, "no expression"),
    ('[[preset]]\nname = "a"\nexpression = "x"\n\n[[preset]]\nname = "A"\nexpression = "y"\n', 5, "two presets"),
    ('[[preset]]\nname = "a"\nexpression = 5\n', 1, "must be a string"),
    ('[[preset]]\nname = "a"\nexpression = "x"\ncolumns = "number"\n', 1, "list of strings"),
    ('version = 99\n', 1, "newer"),
    ('preset = 3\n', 1, "array of tables"),
])
def test_schema_problems_name_the_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    with pytest.raises(PresetFileError) as info:
        parse_presets(body, tmp_path / "p.toml")
    assert info.value.line == line and fragment in str(info.value)


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "presets.toml"
    store = PresetStore(path)
    store.save(Preset("one", "tcp"))
    before = path.read_bytes()

    def fail(*a: object, **k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(PresetWriteError, match="disk full"):
        store.save(Preset("two", "udp"))
    assert path.read_bytes() == before
    # no temporary file left behind (the lock file stays, empty, for the next save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["presets.toml", "presets.toml.lock"]


def test_import_and_export(tmp_path: Path) -> None:
    a = PresetStore(tmp_path / "a.toml")
    a.save(Preset("x", "tcp", color="red"))
    a.save(Preset("y", "udp"))
    out = tmp_path / "share.toml"
    assert a.export_file(out, ["y", "DNS"]) == ["y", "DNS"]
    b = PresetStore(tmp_path / "b.toml")
    b.save(Preset("y", "arp"))
    assert b.import_file(out) == ["y", "DNS"]
    assert b.get("y").expression == "udp"  # type: ignore[union-attr]
    assert not b.get("DNS").standard  # type: ignore[union-attr]
    assert a.export_file(tmp_path / "all.toml") == ["x", "y"]
    with pytest.raises(PresetFileError):
        b.import_file(tmp_path / "missing.toml")


def test_toml_writer_round_trips_every_character() -> None:
    names = ["tab\there", 'quote " and \\ backslash', "line\nbreak", "ctrl \x01\x1f\x7f", "ünïcödé ✓", "emoji 🙂"]
    presets = [Preset(n, n, [n], n, n, n) for n in names]
    doc = tomllib.loads(render(presets, ["hidden \"one\""]))
    assert [r["name"] for r in doc["preset"]] == names
    assert doc["hidden_standard"] == ['hidden "one"']
    back, hidden = parse_presets(render(presets, []))
    assert back == presets and hidden == []


def test_history_keeps_the_last_hundred_newest_first(tmp_path: Path) -> None:
    h = History(tmp_path / "history.toml")
    for k in range(130):
        h.add(f"tcp.port == {k}")
    h.add("tcp.port == 5")  # moved to the front, not duplicated
    h.add("   ")
    again = History(tmp_path / "history.toml").entries()
    assert len(again) == 100 and again[0] == "tcp.port == 5" and again[1] == "tcp.port == 129"
    assert again.count("tcp.port == 5") == 1
    assert History(tmp_path / "h2.toml", limit=3).entries() == []


def test_history_default_location_and_damage(tmp_path: Path) -> None:
    h = History()
    h.add("dns")
    assert h.path == Path(os.environ["XDG_DATA_HOME"]) / "tracemon" / "history.toml"
    bad = tmp_path / "history.toml"
    bad.write_text("entries = [1, 2", encoding="utf-8")
    h = History(bad)
    assert h.entries() == [] and h.problem is not None and h.problem.line == 1
    h.add("tcp")
    assert h.entries() == ["tcp"]  # kept in memory
    assert bad.read_text(encoding="utf-8") == "entries = [1, 2"
