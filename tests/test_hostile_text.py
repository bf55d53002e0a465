"""Issue 12 item 1: text from a trace never reaches a terminal or a spreadsheet as commands.

The traces are crafted here: a DNS TXT record and a DHCP host name carrying OSC 52 ("set the
clipboard") and a C1 CSI, a pcapng packet comment carrying ESC sequences and a bidi override.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import pytest
from tracemon.traces import craft
from tracemon.traces.text import csv_cell, visible, visible_lines
from tracemon.tui.headless import main

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # clipboard := "echo pwned"
TITLE = "\x1b]0;owned\x1b\\"
CSI = "\x9b31m"  # a C1 control: CSI without ESC
RLO = "\u202e"
#: what must never be written raw
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def _pcap(path: Path, frames: list[bytes]) -> Path:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for n, f in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + n, 0, len(f), len(f)) + f
    path.write_bytes(out)
    return path


def _dns_txt(text: bytes) -> bytes:
    q = b"\x04evil\x07example\x00" + struct.pack("!HH", 16, 1)
    rdata = bytes([len(text)]) + text
    a = struct.pack("!HHHIH", 0xC00C, 16, 1, 300, len(rdata)) + rdata
    dns = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + q + a
    return craft.ethernet("001122334455", "66778899aabb", 0x0800,
                          craft.ipv4("10.0.0.53", "10.0.0.1", 17, craft.udp("10.0.0.53", "10.0.0.1", 53, 40000, dns), 1))


def _dhcp_hostname(name: bytes) -> bytes:
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0xDEADBEEF, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, bytes.fromhex("001122334455") + b"\0" * 10, b"", b"")
    opts = b"\x63\x82\x53\x63" + b"\x35\x01\x01" + bytes([12, len(name)]) + name + b"\xff"
    return craft.ethernet("001122334455", "ffffffffffff", 0x0800,
                          craft.ipv4("0.0.0.0", "255.255.255.255", 17,
                                     craft.udp("0.0.0.0", "255.255.255.255", 68, 67, bootp + opts), 2))


def _pcapng_with_comment(path: Path, comment: str) -> Path:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    def opt(code: int, value: bytes) -> bytes:
        return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    data = craft.ethernet("001122334455", "66778899aabb", 0x0806,
                          craft.arp(1, "001122334455", "10.0.0.1", "000000000000", "10.0.0.2"))
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))
    epb = block(6, struct.pack("<IIIII", 0, 0, 1, len(data), len(data)) + data + b"\0" * (-len(data) % 4)
                + opt(1, comment.encode()) + opt(0, b""))
    path.write_bytes(shb + idb + epb)
    return path


@pytest.fixture
def hostile_pcap(tmp_path: Path) -> Path:
    return _pcap(tmp_path / "hostile.pcap", [_dns_txt((OSC52 + CSI + RLO).encode()),
                                             _dhcp_hostname(("pc" + OSC52 + TITLE).encode("latin-1") + b"\x9b2J")])


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _strings(doc: object) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        doc = list(doc.values())
    return [s for v in doc for s in _strings(v)] if isinstance(doc, list) else []


def _clean(s: str) -> bool:
    return not any(c in s for c in RAW)


# -- the function ---------------------------------------------------------------------------

def test_visible_shows_every_control_and_keeps_ordinary_text() -> None:
    assert visible("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
    shown = visible(OSC52 + CSI + RLO + "\x7f\x00\n\t\ud800")
    assert shown == "␛]52;c;ZWNobyBwd25lZA==␇\\x9b31m\\u202e␡␀␊␉\\ud800"
    assert all(not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in shown)
    for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        assert visible(chr(c)) == f"\\u{c:04x}"
    assert visible_lines("a\x1bb\n  ^") == "a␛b\n  ^"


@pytest.mark.parametrize(("cell", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'␉=1"),
    ("\r=1", "'␍=1"),
    ("-0.0001234", "-0.0001234"),  # a negative Time Delta stays a number
    ("10.0.0.1", "10.0.0.1"),
    ("a\x1b]0;x\x07", "a␛]0;x␇"),
])
def test_csv_cell_defuses_formulas(cell: str, safe: str) -> None:
    assert csv_cell(cell) == safe


# -- the command line -----------------------------------------------------------------------

def test_list_text_writes_no_control_characters(hostile_pcap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["list", str(hostile_pcap), "--columns", "number,description,DNS.ARecord.Text,DHCP.HostName"],
                          capsys)
    assert code == 0
    assert _clean(out) and _clean(err)
    assert "␛]52;c;ZWNobyBwd25lZA==␇" in out  # shown, not dropped
    assert len(out.splitlines()) == 3  # a header and one line per frame: no line break smuggled in


def test_show_writes_no_control_characters(hostile_pcap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in ("1", "2"):
        code, out, err = _run(["show", str(hostile_pcap), n], capsys)
        assert code == 0
        assert _clean(out) and _clean(err)
        assert "␛]52;c;" in out


def test_json_escapes_controls_as_json_does(hostile_pcap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["show", str(hostile_pcap), "2", "--format", "json", "--no-hex"], capsys)
    assert code == 0 and _clean(out)
    assert "\\u001b]52;c;" in out
    doc = json.loads(out)  # the data itself is kept exactly
    assert any(("pc" + OSC52 + TITLE + "\x9b2J") in s for s in _strings(doc))
    code, out, _ = _run(["list", str(hostile_pcap), "--format", "json", "-c", "number,DHCP.HostName"], capsys)
    assert code == 0 and _clean(out)


def test_pcapng_comment_is_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _pcapng_with_comment(tmp_path / "c.pcapng", "note " + TITLE + RLO + "gnp.exe")
    code, out, err = _run(["show", str(path), "1", "--no-hex"], capsys)
    assert code == 0
    assert _clean(out) and _clean(err)
    assert "note ␛]0;owned␛\\\\u202egnp.exe" in out


def test_csv_export_and_list_are_escaped_and_defused(hostile_pcap: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _pcap(tmp_path / "formula.pcap", [_dhcp_hostname(b"=HYPERLINK(\"http://evil\")" + OSC52.encode())])
    target = tmp_path / "out.csv"
    code, _, err = _run(["export", str(path), str(target), "-c", "number,DHCP.HostName"], capsys)
    assert code == 0, err
    text = target.read_text()
    assert _clean(text)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1].startswith("'=HYPERLINK")
    code, out, _ = _run(["list", str(path), "--format", "csv", "-c", "number,DHCP.HostName"], capsys)
    assert code == 0 and _clean(out)
    assert list(csv.reader(io.StringIO(out)))[1][1].startswith("'=HYPERLINK")


def test_preset_names_and_filter_text_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["presets", "save", "evil" + TITLE, "TCP"], capsys)
    assert code == 0 and _clean(err)
    code, out, err = _run(["presets", "list"], capsys)
    assert code == 0 and _clean(out) and "evil␛]0;owned" in out
    code, out, err = _run(["check", "DNS.QRecord.QuestionName == \"" + OSC52 + "\" AND ("], capsys)
    assert code == 3 and _clean(out) and _clean(err)


# -- the TUI --------------------------------------------------------------------------------

def _screen_text(app: object) -> str:
    """What the terminal would be sent: every cell of every strip of the composed screen."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return "\n".join(strip.text for strip in strips)


def _open_all(tree: object) -> None:
    stack = list(tree.root.children)  # type: ignore[attr-defined]
    while stack:
        node = stack.pop()
        node.expand()
        stack.extend(node.children)


@pytest.mark.parametrize("frame", [1, 2])
def test_tui_shows_trace_text_escaped(hostile_pcap: Path, frame: int) -> None:
    from tracemon.tui.app import TracemonApp
    from tracemon.tui.screens.trace import TraceScreen
    from tracemon.tui.widgets.conversation_tree import ConversationTree
    from tui_support import async_test, settle

    @async_test
    async def run() -> None:
        app = TracemonApp([str(hostile_pcap)])
        async with app.run_test(size=(200, 60)) as pilot:
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            screen.frames.cursor = frame - 1
            await settle(app, pilot)
            _open_all(screen.details)
            _open_all(screen.query_one(ConversationTree))
            await settle(app, pilot)
            shown = _screen_text(app)
            assert _clean(shown), [line for line in shown.splitlines() if not _clean(line)]
            assert "␛]52;c;" in shown  # the text is there, made visible
            # the field as a notification ("copy value") goes through the same escaping
            screen.details.focus()
            node = next(n for n in _walk(screen.details)
                        if n.data is not None and isinstance(n.data.value, str) and "52;c;" in n.data.value)
            screen.details.move_cursor(node, animate=False)
            await settle(app, pilot)
            screen.details.action_copy("value")
            await settle(app, pilot)
            messages = [n.message for n in app._notifications]  # type: ignore[attr-defined]
            assert any(m.startswith("Copied: ") and "␛]52;c;" in m for m in messages), messages
            assert all(_clean(m) for m in messages)

    run()


def _walk(tree: object) -> list:
    out, stack = [], list(tree.root.children)  # type: ignore[attr-defined]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out
