"""Keys and trust (issue 11): typed-ahead keys land where the user meant them, the filter bar keeps
what was applied, quitting asks first, and the TUI's command line opens a trace as asked."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import sample
from textual import events
from textual.keys import _character_to_key
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle

PCAP = "pcap/tcpreplay_test.pcap"
BIG = (160, 50)
SMALL = (80, 24)


def screen_of(app: TracemonApp) -> TraceScreen:
    for s in reversed(app.screen_stack):
        if isinstance(s, TraceScreen):
            return s
    raise AssertionError("no trace screen")


def burst(app: TracemonApp, *keys: str, text: str = "") -> None:
    """Queue keys as one terminal read delivers them: all at once, before any of them is handled.
    ``keys`` are key names ("slash", "enter"); ``text`` is typed character by character after them."""
    for key in keys:
        app.post_message(events.Key(key, {"slash": "/", "space": " "}.get(key)))
    for ch in text:
        app.post_message(events.Key(_character_to_key(ch), ch))
    app.keys_sent = getattr(app, "keys_sent", 0) + len(keys) + len(text)  # type: ignore[attr-defined]


async def typed(app: TracemonApp, pilot) -> None:
    """Wait until every key queued has been handled, then for the workers and a repaint."""
    sent = getattr(app, "keys_sent", 0)
    queue = app.keys
    for _ in range(2000):  # (a bound so that a stuck queue fails the test instead of hanging it)
        if queue.read_count >= sent and queue.idle:
            break
        await pilot.pause(0.01)
    assert queue.idle, f"{len(queue.pending)} keys still waiting"
    await settle(app, pilot)


@async_test
async def test_keys_typed_right_after_slash_land_in_the_filter_bar():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        before = (screen.frames.cursor, screen.time_mode, screen.view.reference, set(screen.view.marks))
        # "TCP.Port == 443": T, C, P would be commands (time mode, columns, presets) in the list
        burst(app, "slash", text="TCP.Port == 443")
        await typed(app, pilot)
        assert screen.filter_bar.value == "TCP.Port == 443"
        assert app.screen is screen, "a command opened a dialog"
        assert (screen.frames.cursor, screen.time_mode, screen.view.reference, set(screen.view.marks)) == before


@async_test
async def test_command_letters_and_slash_typed_in_the_bar_are_text():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        # g p s c e are commands that open dialogs (priority bindings): in the bar they are letters
        text = 'IPv4.Address == 172.16.11.12 AND Property.x == "g/p s/c e"'
        burst(app, "slash", text=text)
        await typed(app, pilot)
        assert app.screen is screen
        assert screen.filter_bar.value == text


@async_test
async def test_keys_typed_ahead_of_a_dialog_wait_for_it():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        burst(app, "g", "1", "5", "0", "enter")  # go to frame 150, typed in one burst
        await typed(app, pilot)
        assert app.screen is screen
        assert screen.frames.frame == 149
        burst(app, "slash", text="TCP.Port == 443")
        burst(app, "enter")
        await typed(app, pilot)
        assert screen.filter_text == "TCP.Port == 443" and len(screen.view) == 9


@async_test
async def test_tab_in_the_filter_bar_only_completes():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        bar = screen.filter_bar
        burst(app, "slash", text="TCP.Port == 443")
        await typed(app, pilot)
        assert not bar.candidates, "no completion list after a number"
        # Tab with nothing to complete, then letters that are commands in the list (r, t, m)
        burst(app, "tab", text=" rtm")
        await typed(app, pilot)
        assert app.focused is bar.input
        assert bar.value == "TCP.Port == 443 rtm"
        assert screen.view.reference is None and screen.time_mode == "utc" and not screen.view.marks
        # Tab on a word with one completion completes it at once
        burst(app, "ctrl+u")
        burst(app, text="TCP.SrcPo")
        burst(app, "tab")
        await typed(app, pilot)
        assert bar.value == "TCP.SrcPort" and app.focused is bar.input


@async_test
async def test_no_completion_list_pops_up_after_enter():
    """Enter applies: a completion still being worked out for the last keystrokes (the list follows
    typing once it pauses) must not open over the list afterwards, where Up/Down would move it."""
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        bar = screen.filter_bar
        burst(app, "slash", text="TCP")
        burst(app, "enter")
        await typed(app, pilot)  # (longer than the pause after which the list follows typing)
        assert screen.filter_text == "TCP" and app.focused is bar.input
        assert not bar._completion_visible() and not bar.candidates
        # a check that was under way when Enter came answers late: still no list
        from tracemon.tui import filter_api
        comp = filter_api.complete_at("TCP", 3, screen.trace, app.presets)
        assert comp is not None and len(comp.candidates) > 1, "the test needs a word with completions"
        bar.post_message(bar._Checked("TCP", 3, None, comp))
        await typed(app, pilot)
        assert not bar._completion_visible()
        # typing again brings the list back; Esc closes it and it stays closed
        burst(app, text=".")
        await typed(app, pilot)
        assert bar._completion_visible()
        burst(app, "escape")
        await typed(app, pilot)
        bar.post_message(bar._Checked("TCP.", 4, None, filter_api.complete_at("TCP.", 4, screen.trace, app.presets)))
        await typed(app, pilot)
        assert not bar._completion_visible() and app.focused is bar.input


@async_test
async def test_escape_leaves_the_bar_and_keeps_the_applied_filter():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        bar = screen.filter_bar
        burst(app, "slash", text="TCP.Port == 443")
        burst(app, "enter")
        await typed(app, pilot)
        assert len(screen.view) == 9
        burst(app, text=" AND IPv4.Address == 10.0.0.9")
        burst(app, "escape")
        await typed(app, pilot)
        # the applied filter stays, its text is back, the list has focus, the draft is in the history
        assert screen.filter_text == "TCP.Port == 443" and len(screen.view) == 9
        assert bar.value == "TCP.Port == 443"
        assert app.focused is screen.frames
        assert app.history.entries()[:2] == ["TCP.Port == 443 AND IPv4.Address == 10.0.0.9", "TCP.Port == 443"]
        # removing the filter is explicit: Ctrl+U empties the bar, Enter applies that
        burst(app, "slash", "ctrl+u", "enter")
        await typed(app, pilot)
        assert screen.filter_text == "" and len(screen.view) == 179
        # … or Ctrl+L from the list
        burst(app, "escape", "slash", "up", "up", "enter")
        await typed(app, pilot)
        assert screen.filter_text == "TCP.Port == 443" and len(screen.view) == 9
        burst(app, "escape", "ctrl+l")
        await typed(app, pilot)
        assert screen.filter_text == "" and len(screen.view) == 179 and bar.value == ""


@async_test
async def test_q_asks_before_quitting():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        burst(app, "q", "x")  # a stray q, then anything else: stay
        await typed(app, pilot)
        assert app.screen is screen and app.return_code is None
        burst(app, "q", "q")
        for _ in range(2000):  # the app is leaving: wait for that, not for an idle key queue
            if app.return_code is not None:
                break
            await pilot.pause(0.01)
    assert app.return_code == 0


@async_test
async def test_time_mode_is_remembered(tmp_path):
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        burst(app, "t")  # UTC → local
        await typed(app, pilot)
        burst(app, "r")  # a reference switches the column to "from reference" without saving it
        await typed(app, pilot)
        assert screen_of(app).time_mode == "reference"
    again = TracemonApp([str(sample(PCAP))])
    async with again.run_test(size=BIG) as pilot:
        await typed(again, pilot)
        assert screen_of(again).time_mode == "local"
        assert "Time (local)" in screen_of(again).frames.render_line(0).text


@async_test
async def test_only_tracemon_themes_are_offered():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await typed(app, pilot)
        assert set(app.available_themes) == {"tracemon-dark", "tracemon-light", "tracemon-contrast"}
        app.theme = "tracemon-light"  # (what the palette's theme list does)
        await typed(app, pilot)
        assert app.config.theme == "tracemon-light"


@async_test
async def test_a_resize_through_a_tiny_size_gives_the_tree_its_width_back():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        tree = screen_of(app).query_one("#tree")
        wide = tree.size.width
        assert wide >= 30
        await pilot.resize_terminal(50, 20)
        await typed(app, pilot)
        await pilot.resize_terminal(*BIG)
        await typed(app, pilot)
        assert tree.size.width == wide


@async_test
async def test_no_stale_counts_in_the_tree_before_the_scan_ends(tmp_path):
    from tui_support import write_udp_pcap

    path = write_udp_pcap(tmp_path / "big.pcap", 300_000)
    app = TracemonApp([str(path)])
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        screen = screen_of(app)
        tree = screen.query_one("#tree")
        if not screen.trace.complete.is_set():  # (the first paint usually comes long before the end)
            assert "All Traffic  0" not in str(tree.root.label)
            assert "reading" in str(tree.root.label)
        await typed(app, pilot)
        assert str(tree.root.label) == "All Traffic  300,000"


# -- the TUI's command line ----------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracemon.tui.cli", *args], check=False, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["-Y", "TCP.Prot == 443"], 3, "tracemon: -Y/--filter: column 1: TCP has no field Prot"),
    (["--filter", "TCP.Port =="], 3, "tracemon: -Y/--filter: column 12: expected a value after =="),
    (["--goto", "0"], 2, "tracemon: --goto 0: frame numbers start at 1"),
    (["--preset", "tcp reset"], 2, "tracemon: --preset 'tcp reset': no such preset (did you mean 'TCP resets'?"),
    (["--columns", "number,Bogus.Field"], 2, "tracemon: --columns: unknown column 'Bogus.Field'"),
])
def test_bad_command_line_values_are_one_line_errors(args, code, message):
    r = run_cli(*args, str(sample(PCAP)))
    assert r.returncode == code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), r.stderr


def test_preset_and_filter_combine():
    from tracemon.tui.startup import start_options

    opts = start_options(filter="TCP.Port == 443", preset="TCP resets", columns=None, goto=7,
                         first_file=str(sample(PCAP)))
    assert opts.filter.endswith("AND (TCP.Port == 443)") and opts.preset == "" and opts.goto == 7
    opts = start_options(filter=None, preset="TCP resets", columns="number,description", goto=None,
                         first_file=None)
    assert opts.preset == "TCP resets" and opts.columns == ["number", "description"]


@async_test
async def test_command_line_filter_columns_and_goto_are_shown():
    from tracemon.tui.startup import StartOptions

    start = StartOptions(filter="TCP.Port == 443", columns=["number", "protocol", "IPv4.TTL"], goto=150)
    app = TracemonApp([str(sample(PCAP))], start=start)
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        assert screen.filter_text == "TCP.Port == 443" and len(screen.view) == 9
        assert screen.filter_bar.value == "TCP.Port == 443"
        assert screen.column_names == ["number", "protocol", "IPv4.TimeToLive"]
        assert app.config.columns != screen.column_names, "a run's columns are not saved"
        # frame 150 is not displayed under the filter: the nearest one is selected, with a note
        assert screen.frames.frame is not None
    app = TracemonApp([str(sample(PCAP))], start=StartOptions(goto=150))
    async with app.run_test(size=BIG) as pilot:
        await typed(app, pilot)
        assert screen_of(app).frames.frame == 149


# -- what the screen says ------------------------------------------------------------------

@async_test
async def test_the_file_name_is_on_screen_with_two_traces_open():
    first, second = sample(PCAP), sample("pcapng/chrissanders_http_ip4and6.pcapng")
    app = TracemonApp([str(first), str(second)])
    async with app.run_test(size=SMALL) as pilot:
        await typed(app, pilot)
        line = screen_of(app).status.render().plain
        assert line.lstrip().startswith("1/2 tcpreplay_test.pcap │ 179 frames"), line
        burst(app, "f6")
        await typed(app, pilot)
        line = screen_of(app).status.render().plain
        # 80 columns: the long name is cut in the middle, its start and extension stay
        assert line.lstrip().startswith("2/2 chrissand") and ".pcapng │" in line, line


@async_test
async def test_filter_errors_wrap_at_80_columns():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await typed(app, pilot)
        screen = screen_of(app)
        burst(app, "slash", text="IPv4.Adress == 10.0.0.1 AND TCP.Port == 443")
        await typed(app, pilot)
        bar = screen.filter_bar
        assert not bar.last.ok
        msg = bar.query_one("#filter-message")
        shown = " ".join(msg.render_line(y).text.strip() for y in range(msg.size.height))
        assert msg.size.height >= 2
        # every word of the message is on screen (at 80 columns it was cut after "did you mean")
        assert " ".join(bar.last.message.split()) in shown, (bar.last.message, shown)


@async_test
async def test_help_reads_at_80x24():
    from tracemon.tui import commands
    from tracemon.tui.screens.help import HelpScreen

    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=SMALL) as pilot:
        await typed(app, pilot)
        burst(app, "f1")
        await typed(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one("#help-table")
        lines = [body.render_line(y).text.rstrip() for y in range(body.size.height)]
        text = " ".join(" ".join(line.split()) for line in lines)
        for c in commands.COMMANDS:  # each command's title, help and id, whole
            assert f"{c.title} — {' '.join(c.help.split())} [{c.id}]" in text, c.id
        # a description wraps onto a line or two, not one word per line
        groups = {c.group for c in commands.COMMANDS}
        lone = [line for line in lines if len(line.split()) == 1 and line.strip() not in groups
                and not line.strip().startswith("[")]
        assert not lone, lone
        # it scrolls to the end
        burst(app, "end")
        await typed(app, pilot)
        assert app.screen.query_one("#help-body").scroll_y > 0
