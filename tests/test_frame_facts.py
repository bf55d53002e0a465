"""What the Frame layer says about a frame beyond its bytes, against tshark on the pcapng samples:
the capture interface's name and description, and no timestamp where the record has none (a
simple packet block, a custom block) instead of the previous frame's, which the index repeats only
to keep the order."""

from __future__ import annotations

import json

import pytest
from conftest import sample, samples
from test_cli import tracemon
from test_tshark_fields import tshark_rows
from tracemon.traces import open_trace

pytestmark = pytest.mark.tshark

def one_line(text: str) -> str:
    """A name as tshark's -T fields prints it (line breaks escaped)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


SPB_SAMPLE = "pcapng/pcapngtestgen_le_advanced_test102.pcapng"
SPB_FRAME = 5  # tshark: no frame.time_epoch; the block is a Simple Packet Block on eth0


@pytest.mark.parametrize("path", samples("pcapng", ".pcapng"), ids=lambda p: p.name)
def test_interface_names_match_tshark(path: object) -> None:
    """Only frames of a file's first section: tshark 4.0 resolves a later section's interface id
    against the first section's interfaces (its own capinfos counts them there too), while an
    interface id is local to its section (draft-ietf-opsawg-pcapng §4.2); see the next test."""
    rows = tshark_rows(str(path), ("frame.section_number", "frame.interface_name", "frame.interface_description"))
    with open_trace(path, use_cache=False) as trace:
        assert len(trace) == len(rows)
        for i, row in enumerate(rows):
            if row[2] not in ("", "1"):
                continue
            frame = trace.frame(i)
            name, desc = row[3], row[4]
            if name == "unknown":  # tshark's word for an interface without if_name
                name = ""
            ours = frame.first("Frame.Interface.Name", "")
            assert one_line(ours) == name, f"frame {i + 1}: interface name {ours!r}, tshark {name!r}"
            assert one_line(frame.first("Frame.Interface.Description", "")) == desc, f"frame {i + 1}"


def test_interface_ids_are_local_to_their_section() -> None:
    """The second section of test202 describes one interface (at offset 1052, "silly ethernet
    interface 2"); its packets (frames 5, 6, 8, 9) name interface 0 of that section."""
    for name in ("pcapngtestgen_le_difficult_test202.pcapng", "pcapngtestgen_be_difficult_test202.pcapng"):
        with open_trace(sample(f"pcapng/{name}"), use_cache=False) as trace:
            got = [trace.frame(n - 1).first("Frame.Interface.Name") for n in (2, 5, 6, 8, 9, 11)]
            silly = "silly ethernet interface 2"
            assert got == ["eth0", silly, silly, silly, silly, "null1"], name


@pytest.mark.parametrize("path", samples("pcapng", ".pcapng"), ids=lambda p: p.name)
def test_frames_without_a_time_of_their_own_show_none(path: object) -> None:
    """tshark leaves frame.time_epoch empty for SPBs and custom blocks; ``show --format json``
    gives null there and the time to the ns elsewhere."""
    rows = tshark_rows(str(path), ())
    with open_trace(path, use_cache=False) as trace:
        from tracemon.tui.headless import frame_to_json

        for i, row in enumerate(rows):
            got = frame_to_json(trace.frame(i), with_hex=False)["timestamp_ns"]
            want = None if not row[1] else int(row[1].replace(".", ""))
            assert got == want, f"frame {i + 1}: {got} vs tshark {row[1]!r}"


def test_show_says_a_simple_packet_block_has_no_timestamp() -> None:
    path = str(sample(SPB_SAMPLE))
    text = tracemon("show", path, str(SPB_FRAME), "--no-hex").stdout
    frame_layer = text.split("\n+ ", 2)[1]
    assert "TimeStamp: (none: simple packet block)" in frame_layer
    assert "2012-" not in frame_layer  # the previous frame's time is not shown as this one's
    assert "Interface: 0 (eth0)" in frame_layer and "Name: eth0" in frame_layer
    obj = json.loads(tracemon("show", path, str(SPB_FRAME), "--format", "json").stdout)
    assert obj["timestamp_ns"] is None


def test_stats_lists_the_interface_names() -> None:
    path = str(sample(SPB_SAMPLE))
    text = tracemon("stats", path).stdout
    section = text.split("Interfaces:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[:2] for line in section] == [["0", "eth0"], ["1", "null1"], ["2", "silly!\\r\\nethernet"]]
    stats = json.loads(tracemon("stats", path, "--format", "json").stdout)
    assert [(i["name"], i["frames"]) for i in stats["interfaces"]] == [
        ("eth0", 6), ("null1", 1), ("silly!\r\nethernet interface 2", 1)]
