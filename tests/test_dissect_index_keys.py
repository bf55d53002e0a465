"""Layer names equal the protocol names of ``traces/protocols.py``, so index masks work.

``packets.index_keys`` (the scalar definition of the index columns) turns layer names into the
protocol presence mask and the Protocol Name code; a layer name that ``protocols.py`` does not
know silently drops out of both.  These tests hold the dissectors and that table together on
every sample frame and every hand-built frame of every link type.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import samples
from test_dissect_synthetic import CASES, write_pcap
from tracemon.traces import FieldType, Frame, open_trace
from tracemon.traces import dissect as dissect_pkg
from tracemon.traces.fields import FieldDef
from tracemon.traces.packets import NOT_INDEXED, index_keys, tunnel_at
from tracemon.traces.protocols import CODE, FLAGS, MASK, PACKET_PROTOCOL_NAMES
from tracemon.traces.tunnels import NETWORK_ID

SAMPLE_FILES = [*samples("pcap"), *samples("pcapng"), *samples("netmon")]
#: layers the readers add around the dissected ones (not packet protocols)
READER_LAYERS = {"Frame", "NetEvent"}


def dissector_protocols() -> list[FieldDef]:
    """Every top-level protocol a dissector module declares."""
    out = []
    for module in vars(dissect_pkg).values():
        if getattr(module, "__name__", "").startswith("tracemon.traces.dissect."):
            for value in vars(module).values():
                if isinstance(value, FieldDef) and value.type is FieldType.PROTOCOL and "." not in value.name:
                    out.append(value)
    return out


def test_every_dissector_protocol_has_an_index_code() -> None:
    names = {p.name for p in dissector_protocols()}
    assert {"Ethernet", "IPv4", "IPv6", "TCP", "UDP", "DNS", "WiFi", "SLL", "MPLS"} <= names
    missing = sorted(names - set(CODE))
    assert not missing, f"protocols.py lacks {missing}"
    assert len(PACKET_PROTOCOL_NAMES) - 1 <= 64


def check_frame(trace: object, frame: Frame, where: str) -> None:
    names = [layer.name for layer in frame.layers if layer.name not in READER_LAYERS]
    unknown = [n for n in names if n not in MASK]
    assert not unknown, f"{where}: layer(s) {unknown} unknown to protocols.py"
    keys = index_keys(trace, frame.layers, frame.protocol_name)  # type: ignore[arg-type]
    expected = 0
    for n in names:
        if n not in NOT_INDEXED:  # Payload is everywhere: the index leaves it out
            expected |= MASK[n]
    # nested IP headers are flagged for filters; a tunnel the index sees through (tunnels.py) holds
    # the tenant's and the outer ones, so there each side counts
    tunnel = next((k for k, n in enumerate(names) if n in NETWORK_ID), None)
    seen_through = tunnel is not None and tunnel_at(frame.layers) is not None
    sides = [names[:tunnel], names[tunnel + 1 :]] if seen_through else [names]
    if any(sum(n in ("IPv4", "IPv6") for n in side) > 1 for side in sides):
        expected |= FLAGS["IPinIP"]
    if seen_through and any(sum(n == x for n in side) > 1 for side in sides for x in ("Ethernet", "TCP", "UDP")):
        expected |= FLAGS["Nested"]
    assert keys.protos == expected, f"{where}: mask {keys.protos:#x}, layers {names}"
    if frame.protocol_name:
        assert frame.protocol_name in names, f"{where}: Protocol Name {frame.protocol_name} is not a layer"
        assert keys.top == CODE[frame.protocol_name], where
        # the Protocol Name is the top recognised protocol: Payload only when nothing else is there
        assert frame.protocol_name != "Payload" or set(names) == {"Payload"}, where


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_frames_give_masks_of_their_layers(path: Path) -> None:
    with open_trace(path, use_cache=False) as trace:
        for i in range(len(trace)):
            frame = trace.frame(i)
            if frame.kind != "packet":  # pcapng custom blocks and the like: no dissected layers
                continue
            check_frame(trace, frame, f"{path.name} frame {i + 1}")
            assert int(trace.index.protos[i]) == index_keys(trace, frame.layers, frame.protocol_name).protos


@pytest.mark.parametrize("case", list(CASES))
def test_hand_built_frames_give_masks_of_their_layers(case: str, tmp_path: Path) -> None:
    link, make, _ = CASES[case]
    frames = make()
    path = tmp_path / f"{case}.pcap"
    write_pcap(path, link, frames)
    with open_trace(path, use_cache=False) as trace:
        assert len(trace) == len(frames)
        for i in range(len(trace)):
            frame = trace.frame(i)
            check_frame(trace, frame, f"{case} frame {i + 1}")
            assert int(trace.index.protos[i]) == index_keys(trace, frame.layers, frame.protocol_name).protos
            assert int(trace.index.top[i]) == CODE[frame.protocol_name]
