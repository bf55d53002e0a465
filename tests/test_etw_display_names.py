"""What an ETW event shows a reader: NTSTATUS values in hex with their names, and event names
for the events the public dumps leave without a symbol (issue 11, defect 9)."""

from __future__ import annotations

import pytest
from tracemon.traces import ntstatus, open_trace
from tracemon.traces.etw import demo
from tracemon.tui import conversations

VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"


@pytest.fixture(scope="module")
def demo_trace(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("demo") / "demo.etl"
    demo.write_demo(path)
    with open_trace(path, use_cache=False) as tr:
        yield tr


def _drop_frame(tr):
    from tracemon.filters import compile_filter

    rows = compile_filter(f"{VMS}.VM_NBL_INCOMING_DROP", trace=tr).evaluate(tr).nonzero()[0]
    assert len(rows)
    return tr.frame(int(rows[0]))


def test_ntstatus_text_names_common_codes_and_keeps_unknown_ones_in_hex() -> None:
    assert ntstatus.text(0xC000009A) == "0xC000009A (STATUS_INSUFFICIENT_RESOURCES)"
    assert ntstatus.text(-0x3FFFFF66) == "0xC000009A (STATUS_INSUFFICIENT_RESOURCES)"  # read as Int32
    assert ntstatus.text(0xC0AB0001) == "0xC0AB0001 (error)"
    assert ntstatus.name(0) == "STATUS_SUCCESS"


def test_vmswitch_drop_reason_reads_as_ntstatus(demo_trace) -> None:
    frame = _drop_frame(demo_trace)
    assert "0xC000009A (STATUS_INSUFFICIENT_RESOURCES)" in frame.description
    reason = frame.fields(f"{VMS}.VM_NBL_INCOMING_DROP.DropReason")[0]
    assert reason.value == 0xC000009A and "STATUS_INSUFFICIENT_RESOURCES" in reason.display
    assert "3221225626" not in frame.description


def test_events_without_a_schema_symbol_get_names(demo_trace) -> None:
    top = conversations.children(demo_trace, conversations.root(demo_trace))
    etw = next(s for s in top if s.kind == "etw")
    labels = [e.label for p in conversations.children(demo_trace, etw) if p.kind == "provider"
              for e in conversations.children(demo_trace, p)]
    assert "PacketFragment (1001)" in labels and "VSwitchPacketFragment (1003)" in labels
    assert "VM_SWITCH_LIFECYCLE_9 (9)" in labels and "VM_NAME (102)" in labels
    assert not [x for x in labels if x.startswith(("Event_", "task_"))], labels


def test_the_old_event_names_still_filter(demo_trace) -> None:
    from tracemon.filters import compile_filter

    old = compile_filter(f"{VMS}.Event_9", trace=demo_trace).evaluate(demo_trace)
    new = compile_filter(f"{VMS}.VM_SWITCH_LIFECYCLE_9", trace=demo_trace).evaluate(demo_trace)
    assert old.sum() == 1 and (old == new).all()
