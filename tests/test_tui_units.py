"""The TUI's Textual-free parts: commands, config, columns, view, conversations, expressions, export."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tshark, sample
from tracemon.traces import (
    REGISTRY,
    dissect,  # noqa: F401 - the dissectors declare the names REGISTRY holds
    open_trace,
)
from tracemon.tui import columns as C
from tracemon.tui import commands, config, conversations, expressions
from tracemon.tui import themes as T
from tracemon.tui.view import FrameView, Sort, combine, sort_rows

PCAP = "pcap/tcpreplay_test.pcap"


@pytest.fixture(scope="module")
def trace():
    t = open_trace(sample(PCAP), use_cache=False)
    yield t
    t.close()


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    exe = require_tshark()
    args = [exe, "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


# -- commands ------------------------------------------------------------------------------

def test_every_command_has_a_unique_id_and_no_key_clashes_within_a_scope():
    assert len(commands.BY_ID) == len(commands.COMMANDS)
    for scope in {c.scope for c in commands.COMMANDS}:
        seen: dict[str, str] = {}
        for c in commands.in_scope(scope):
            for key in c.keys.split(","):
                assert key not in seen, f"{key} bound to {seen.get(key)} and {c.id} in scope {scope}"
                seen[key] = c.id


def test_key_labels_read_like_keys():
    assert commands.key_label("f1,question_mark") == "F1 ?"
    assert commands.key_label("ctrl+g,g") == "Ctrl+g g"
    assert commands.key_label("right_square_bracket") == "]"


def test_footer_commands_fit_in_80_columns():
    shown = [c for c in commands.COMMANDS if c.footer and c.scope in ("app", "screen")]
    width = sum(len(commands.key_label(c.keys.split(",")[0])) + len(c.title) + 3 for c in shown)
    assert width <= 160  # two screens at most at 80 columns; the essentials come first


# -- config --------------------------------------------------------------------------------

def test_config_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    cfg = config.load(path)
    assert cfg.problems == [] and cfg.theme == "tracemon-dark"
    cfg.theme = "tracemon-light"
    cfg.columns = ["Frame Number", "TCP.SrcPort", 'odd "name"']
    cfg.keys = {"goto": "ctrl+g", "find": "f3"}
    cfg.time_mode = "offset"
    cfg.save(path)
    raw = tomllib.loads(path.read_text())
    assert raw["keys"] == {"find": "f3", "goto": "ctrl+g"}
    again = config.load(path)
    assert (again.theme, again.columns, again.keys, again.time_mode) == (
        "tracemon-light", ["Frame Number", "TCP.SrcPort", 'odd "name"'], {"goto": "ctrl+g", "find": "f3"}, "offset")


def test_config_reports_bad_values_and_keeps_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('time_mode = "sideways"\ntree_width = -3\nfrobnicate = 1\ncolumns = []\n')
    cfg = config.load(path)
    assert cfg.time_mode == "utc" and cfg.tree_width == 34 and cfg.columns == list(config.DEFAULT_COLUMNS)
    text = "\n".join(cfg.problems)
    assert "sideways" in text and "tree_width" in text and "frobnicate" in text and "columns" in text
    path.write_text("theme = [unclosed")
    assert "not valid TOML" in config.load(path).problems[0]


def test_config_lives_under_the_xdg_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_path() == tmp_path / "tracemon" / "config.toml"


# -- columns and time text -----------------------------------------------------------------

def test_time_text_has_netmon_resolution():
    assert C.seconds(1_234_567_891) == "1.2345678"
    assert C.seconds(-1_500_000_000) == "-1.5000000"
    assert C.time_of_day(1_278_472_579_466_743_000) == "03:16:19.4667430"


def test_columns_resolve_titles_keys_and_fields(trace):
    cols, problems = C.columns(["Frame Number", "time offset", "TCP.SrcPort", "number", "TCP.Nonsense"], trace)
    assert [c.key for c in cols] == ["number", "offset", "TCP.SrcPort"]
    assert cols[2].needs_frame and not cols[0].needs_frame and cols[2].field == "TCP.SrcPort"
    assert len(problems) == 1 and "TCP.Nonsense" in problems[0]
    assert [c.label for c in cols] == ["Frame", "Offset", "SrcPort"]


def test_cells_agree_with_tshark(trace):
    rows = tshark_fields(sample(PCAP), "frame.time_relative", "ip.src", "ip.dst", "ipv6.src", "eth.src")
    cols, _ = C.columns(["Frame Number", "Time Offset", "Source", "Destination", "IPv4.SourceAddress"])
    ctx = C.context(trace, "utc", None, None)
    for i, (rel, ip_src, ip_dst, ip6_src, eth_src) in enumerate(rows):
        number, offset, source, _dest, field = C.row_cells(cols, trace, i, ctx)
        assert number == str(i + 1)
        assert abs(float(offset) - float(rel)) < 1e-6
        if ip_src:
            # the field column shows every instance (ICMP errors quote an inner IPv4 header)
            assert source == ip_src.split(",")[0] and field == ", ".join(ip_src.split(","))
        elif ip6_src:
            assert source.lower() == ip6_src.split(",")[0]
        else:
            assert source.replace("-", ":").lower() == eth_src


# -- view ----------------------------------------------------------------------------------

def test_view_positions_with_and_without_rows(trace):
    v = FrameView(trace)
    assert len(v) == len(trace) and v.position_of(10) == 10
    rows = np.array([3, 7, 50, 90], dtype=np.uint32)
    v.set_rows(rows, None)
    assert v.position_of(50) == 2 and v.position_of(51) is None
    assert v.position_near(51) == 3 and v.position_near(1000) == 3
    v.marks.update({7, 90, 91})
    assert v.next_mark(0, 1) == 1 and v.next_mark(1, 1) == 3 and v.next_mark(3, 1) is None
    assert v.next_mark(3, -1) == 1


def test_combine_masks():
    f = np.array([1, 1, 0, 1, 0], bool)
    s = np.array([0, 1, 1, 1, 1], bool)
    assert combine(5, None, None) is None
    assert combine(5, f, s).tolist() == [1, 3]
    assert combine(5, None, s).tolist() == [1, 2, 3, 4]


def test_sort_by_index_and_decoded_columns(trace):
    by_time = sort_rows(trace, None, Sort("time", descending=True))
    ts = trace.index.ts[by_time]
    assert (np.diff(ts.astype(np.int64)) <= 0).all()
    by_source = sort_rows(trace, None, Sort("source"))
    sources = [trace.frame(int(i)).source for i in by_source]
    keys = [C_sort_key(s) for s in sources]
    assert keys == sorted(keys)
    # ties keep frame order (a stable sort)
    same = [int(i) for i in by_source if trace.frame(int(i)).source == "172.16.11.12"]
    assert same == sorted(same)


def C_sort_key(text: str):
    from tracemon.tui.view import _sort_key

    return _sort_key(text)


# -- conversations -------------------------------------------------------------------------

def test_conversation_counts_match_tshark(trace):
    exe = require_tshark()
    out = subprocess.run([exe, "-r", str(sample(PCAP)), "-q", "-z", "conv,ip"], capture_output=True, text=True,
                         check=True).stdout
    want = {}
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+<->\s+(\S+)\s+.*?(\d+)\s+\S+\s+\S+\s+\S+\s+\S+$", line)
        if m:
            parts = line.split()
            want[frozenset((parts[0], parts[2]))] = int(parts[9])
    top = conversations.children(trace, conversations.root(trace))
    v4 = next(s for s in top if s.label == "IPv4")
    pairs = conversations.children(trace, v4)
    got = {frozenset(s.label.split(" ↔ ")): s.count for s in pairs}
    assert got == want
    assert v4.count == sum(want.values())


def test_conversation_masks_select_their_frames(trace):
    top = conversations.children(trace, conversations.root(trace))
    v4 = next(s for s in top if s.label == "IPv4")
    pair = conversations.children(trace, v4)[0]
    mask = conversations.mask(trace, pair)
    a, b = pair.label.split(" ↔ ")
    for i in np.flatnonzero(mask):
        f = trace.frame(int(i))
        assert {f.source, f.destination} == {a, b}
    ports = conversations.children(trace, pair)
    assert sum(p.count for p in ports) == pair.count
    for p in ports:
        if p.kind != "l4":
            continue
        for i in np.flatnonzero(conversations.mask(trace, p)):
            assert p.label.split()[0] in trace.frame(int(i)).protocols


# -- filter text ---------------------------------------------------------------------------

def test_clause_writes_netmon_literals():
    assert expressions.clause(REGISTRY.get("IPv4.SourceAddress"), 0x0A000001) == "IPv4.SourceAddress == 10.0.0.1"
    assert expressions.clause(REGISTRY.get("TCP.SrcPort"), 443, "443") == "TCP.SrcPort == 443"
    assert expressions.clause(REGISTRY.get("Ethernet.EtherType"), 0x800, "0x0800 (IPv4)") == \
        "Ethernet.EtherType == 0x0800"
    assert expressions.clause(REGISTRY.get("DNS.QRecord.QuestionName"), 'a"b') == \
        'DNS.QRecord.QuestionName == "a\\"b"'
    assert expressions.clause(REGISTRY.get("TCP"), True) == "TCP"


def test_clause_values_parse_back_to_the_value():
    from tracemon.filters import compile_filter

    for name, value in (("DNS.QRecord.QuestionName", 'two\nlines\tand "quotes" \\ too'),
                        ("Payload.Data", b"\x00\x01\xfe"), ("IPv6.SourceAddress", 1),
                        ("Ethernet.SourceAddress", 0x00155D000001)):
        text = expressions.clause(REGISTRY.get(name), value)
        assert compile_filter(text).tree.right.value == value, text


def test_join_keeps_precedence():
    assert expressions.join("", "DNS", "AND") == "DNS"
    assert expressions.join("ARP OR DNS", "IPv4", "AND") == "(ARP OR DNS) AND IPv4"
    assert expressions.join("ARP AND DNS", "IPv4", "OR") == "ARP AND DNS OR IPv4"
    assert expressions.join("(ARP OR DNS)", "IPv4", "AND") == "(ARP OR DNS) AND IPv4"
    assert expressions.join("DNS // names", "ARP", "OR") == "DNS OR ARP"


# -- themes --------------------------------------------------------------------------------

_CUBE = (0x00, 0x5F, 0x87, 0xAF, 0xD7, 0xFF)
XTERM_256 = {(r, g, b) for r in _CUBE for g in _CUBE for b in _CUBE} | {
    (v, v, v) for v in range(8, 239, 10)} | {(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128),
                                            (128, 0, 128), (0, 128, 128), (192, 192, 192), (128, 128, 128),
                                            (255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 0, 255), (255, 0, 255),
                                            (0, 255, 255), (255, 255, 255)}


def test_shipped_themes_use_only_xterm_256_colours():
    themes = T.builtin_themes()
    assert {t.name for t in themes} == {"tracemon-dark", "tracemon-light", "tracemon-contrast"}
    for t in themes:
        colours = {k: getattr(t, k) for k in T.BASE if getattr(t, k)} | t.variables
        assert set(T.REQUIRED) <= set(t.variables), t.name
        for name, value in colours.items():
            rgb = tuple(int(value[k : k + 2], 16) for k in (1, 3, 5))
            assert rgb in XTERM_256, f"{t.name}: ${name} {value} is not an xterm-256 colour"


def test_theme_files_are_valid_textual_css():
    from importlib import resources

    from textual.css.stylesheet import Stylesheet

    for entry in resources.files("tracemon.themes").iterdir():
        if entry.name.endswith(".tcss"):
            sheet = Stylesheet()
            sheet.add_source(entry.read_text("utf-8") + "\nScreen { color: $tm-header-fg; }", str(entry))
            sheet.parse()


def test_bad_theme_is_reported(tmp_path):
    (tmp_path / "mine.tcss").write_text("$dark: maybe;\n$primary: #ff0000;")
    (tmp_path / "paint.tcss").write_text("$primary: #ff0000;\n$tm-header-bg: notacolour;")
    themes, problems = T.user_themes(tmp_path)
    assert themes == [] and "dark" in problems[0]
    assert "tm-header-bg" in problems[1] and "notacolour" in problems[1]


def test_etw_events_group_by_switch_port_and_nic():
    from tracemon.traces.etw.demo import demo_trace_path

    t = open_trace(demo_trace_path())
    etw = next(s for s in conversations.children(t, conversations.root(t)) if s.kind == "etw")
    vmswitch = next(s for s in conversations.children(t, etw) if s.label.startswith("VMSWITCH_"))
    events = conversations.children(t, vmswitch)
    drop = next(s for s in events if s.label.startswith("VM_NBL_INCOMING_DROP"))
    places = conversations.children(t, drop)
    assert sum(p.count for p in places) == drop.count
    for place in places:
        rows = np.flatnonzero(conversations.mask(t, place))
        assert len(rows) == place.count
        for i in rows:
            leaves = {f.fdef.leaf: f.display for f in t.frame(int(i)).walk() if f.fdef is not None}
            assert place.label == f"{leaves['SwitchFName']} › {leaves['NicFName']}"
    t.close()


def test_colour_rules_paint_what_their_filters_match(trace):
    from types import SimpleNamespace

    from tracemon.tui import colour_rules, filter_api

    presets = [SimpleNamespace(name="icmp", expression="ICMP", color="red"),
               SimpleNamespace(name="dns names", expression='DNS.QRecord.QuestionName.Contains("a")',
                               color="#00ff00"),
               SimpleNamespace(name="no colour", expression="ARP", color=None)]
    rules = colour_rules.from_presets(trace, presets, filter_api.compile, dark_theme=True)
    assert [r.name for r in rules.rules] == ["icmp", "dns names"]
    assert rules.rules[0].index_only and not rules.rules[1].index_only
    assert rules.compute_masks()
    n = len(trace)
    for i in range(n):
        rules.style(i)  # paints every row once: the decoded rule's answers are queued
    while rules.has_pending:
        rules.resolve_pending()
    red = [i for i in range(n) if rules.style(i) is rules.rules[0].style]
    green = [i for i in range(n) if rules.style(i) is rules.rules[1].style]
    shark_icmp = [int(num) - 1 for num, proto in tshark_fields(sample(PCAP), "frame.number", "frame.protocols")
                  if ":icmp" in proto]
    assert red == shark_icmp and red  # first matching rule wins: ICMP errors quoting DNS stay red
    names = tshark_fields(sample(PCAP), "frame.number", "dns.qry.name")
    shark_dns = [int(num) - 1 for num, name in names if "a" in name and int(num) - 1 not in shark_icmp]
    assert green == shark_dns and green


def test_timeline_histogram_while_the_index_grows(tmp_path):
    """The scan appends frames while the timeline counts: the problem mask must cover the frames
    counted (it raised 'operands could not be broadcast' when more had been read in between)."""
    from types import SimpleNamespace

    from tracemon.traces import open_trace
    from tracemon.tui.widgets.timeline import histogram
    from tui_support import write_udp_pcap

    real = open_trace(str(write_udp_pcap(tmp_path / "resets.pcap", 3000)))  # a TCP reset every 1000
    idx = real.index

    class Growing:
        """ts read first (1500 frames), the other columns after more frames came in (all of them)."""

        def __getattr__(self, name):
            return getattr(real, name)

        index = SimpleNamespace(ts=idx.ts[:1500], level=idx.level, tcpflags=idx.tcpflags,
                                provider=idx.provider, event_id=idx.event_id)

    h = histogram(Growing(), None, 20)
    assert int(h.counts.sum()) == 1500 and h.errors.any()
