"""ETW names in filters: providers and events by their registry metadata, on a synthetic trace.

The names come from the ETW schemas through the field registry (``FieldDef.meta`` holds the
provider GUID and event id); here a test overlay registers its own provider and a synthetic
trace carries its events, so every expected result follows from how the frames were built.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from tracemon.filters import FilterError, compile_filter, complete
from tracemon.traces.fields import REGISTRY, FieldType, Registry
from tracemon.traces.frame import Frame, Layer
from tracemon.traces.index import (
    KIND_EVENT,
    KIND_PACKET,
    PID_UNKNOWN,
    ConversationTable,
    FrameIndex,
    empty_batch,
)
from tracemon.traces.protocols import MASK, PACKET_PROTOCOL_NAMES
from tracemon.traces.trace import Provider

GUID = "0b7a6f1e-1111-4c2d-9e3f-5a6b7c8d9e0f"
OTHER = "7d5c9f00-2222-4a1b-8c3d-1e2f3a4b5c6d"
ABSENT = "c0ffee00-3333-4444-5555-666677778888"
PROTO = "TEST_MicrosoftWindowsTestSwitch"
EVENTS = {"TS_PACKET_DROP": 54, "TS_PACKET_DELIVER": 58, "TS_PORT_CREATED": 67}


def _registry() -> Registry:
    reg = REGISTRY.overlay()
    reg.define(PROTO, FieldType.PROTOCOL, "test provider", meta={"provider": GUID}, origin="test")
    reg.alias("MicrosoftWindowsTestSwitch", PROTO)
    for sym, eid in EVENTS.items():
        reg.define(f"{PROTO}.{sym}", FieldType.PROTOCOL, f"event {eid}", meta={"provider": GUID, "event_id": eid},
                   origin="test")
    reg.define(f"{PROTO}.TS_PACKET_DROP.DropReason", FieldType.UINT, "why", origin="test")
    reg.define(f"{PROTO}.TS_PACKET_DROP.NicName", FieldType.STRING, "NIC", origin="test")
    reg.define(f"{PROTO}.Event_99", FieldType.PROTOCOL, "no symbol", meta={"provider": GUID, "event_id": 99,
                                                                           "version": 0}, origin="test")
    reg.define("ABSENT_MicrosoftWindowsNothing", FieldType.PROTOCOL, "not in the trace", meta={"provider": ABSENT})
    return reg


class SyntheticTrace:
    """What the filter engine reads from a trace, built row by row."""

    def __init__(self, rows: list[dict[str, Any]], registry: Registry) -> None:
        self.registry = registry
        self.providers = [Provider("", "", ""), Provider(GUID, "Microsoft-Windows-TestSwitch", PROTO),
                          Provider(OTHER, "Other", "OTHER_Provider")]
        self.protocol_names = [*PACKET_PROTOCOL_NAMES, PROTO, "OTHER_Provider"]
        self.eth_conversations = ConversationTable("eth")
        self.ip_conversations = ConversationTable("ip")
        self.l4_conversations = ConversationTable("l4")
        self.facts: dict[str, Any] = {"processes": {4: r"C:\Windows\System32\ntoskrnl.exe",
                                                    1234: r"C:\Program Files\App\Svc.EXE"}}
        self.complete = threading.Event()
        self.complete.set()
        self.rows = rows
        batch = empty_batch(len(rows))
        for i, r in enumerate(rows):
            batch["ts"][i] = 1_700_000_000_000_000_000 + i * 1_000_000
            batch["kind"][i] = KIND_EVENT
            batch["protos"][i] = MASK["NetEvent"]
            code = {GUID: 1, OTHER: 2}[r["guid"]]
            batch["provider"][i] = code
            batch["top"][i] = len(PACKET_PROTOCOL_NAMES) + code - 1
            batch["event_id"][i] = r["id"]
            batch["level"][i] = r.get("level", 4)
            batch["opcode"][i] = r.get("opcode", 0)
            batch["pid"][i] = r.get("pid", PID_UNKNOWN)
            batch["length"][i] = 80
        self.index = FrameIndex.from_columns(batch)
        self.reader = self

    def __len__(self) -> int:
        return len(self.rows)

    def raw(self, i: int) -> bytes:
        return self.rows[i].get("raw", b"\0" * 8)

    def frame(self, i: int) -> Frame:
        r = self.rows[i]
        reg = self.registry
        ne = Layer(reg.get("NetEvent"), "", 0, 80)
        hdr = ne.add(reg.get("NetEvent.Header"), True)
        d = hdr.add(reg.get("NetEvent.Header.Descriptor"), True)
        d.add(reg.get("NetEvent.Header.Descriptor.Id"), r["id"])
        d.add(reg.get("NetEvent.Header.Descriptor.Level"), r.get("level", 4))
        d.add(reg.get("NetEvent.Header.Descriptor.Opcode"), r.get("opcode", 0))
        if r.get("pid", PID_UNKNOWN) != PID_UNKNOWN:
            hdr.add(reg.get("NetEvent.Header.ProcessId"), r["pid"])
        layers = [ne]
        name = PROTO if r["guid"] == GUID else "OTHER_Provider"
        if r["guid"] == GUID:
            prov = Layer(reg.get(PROTO), "", 0, 80)
            sym = next((s for s, e in EVENTS.items() if e == r["id"]), f"Event_{r['id']}")
            ev = reg.get(f"{PROTO}.{sym}")
            if ev is not None:
                node = prov.add(ev, True)
                if sym == "TS_PACKET_DROP":
                    node.add(reg.get(f"{PROTO}.TS_PACKET_DROP.DropReason"), r.get("reason", 0))
                    node.add(reg.get(f"{PROTO}.TS_PACKET_DROP.NicName"), r.get("nic", ""))
            layers.append(prov)
        return Frame(index=i, timestamp_ns=int(self.index.ts[i]), data=self.raw(i), layers=layers,
                     captured_length=80, original_length=80, kind="event", protocol_name=name,
                     description=f"{name}:{r.get('text', '')}", process_id=r.get("pid"), registry=reg)


ROWS = [
    {"guid": GUID, "id": 58, "pid": 4},
    {"guid": GUID, "id": 54, "reason": 7, "nic": "Adapter-A", "level": 2, "pid": 1234},
    {"guid": OTHER, "id": 54, "level": 3},
    {"guid": GUID, "id": 67, "opcode": 1, "pid": 1234, "text": "Port created"},
    {"guid": GUID, "id": 54, "reason": 9, "nic": "adapter-b", "level": 2},
    {"guid": GUID, "id": 99},
    {"guid": OTHER, "id": 58, "raw": b"xxHELLOxx"},
]


@pytest.fixture(scope="module")
def trace() -> SyntheticTrace:
    from tracemon.filters.names import ensure_etw

    ensure_etw()  # declares NetEvent.*
    return SyntheticTrace(ROWS, _registry())


def _rows(trace: SyntheticTrace, expr: str, *, index_only: bool | None = None) -> list[int]:
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    slow = cf.evaluate_by_decoding(trace)
    assert (fast == slow).all(), (expr, fast, slow)
    if index_only is not None:
        assert (cf.last_stats.decoded == 0) is index_only, (expr, cf.last_stats.decoded)
    return np.flatnonzero(fast).tolist()


def test_provider_and_event_existence_come_from_the_index(trace: SyntheticTrace) -> None:
    assert _rows(trace, PROTO, index_only=True) == [0, 1, 3, 4, 5]
    assert _rows(trace, f"{PROTO}.TS_PACKET_DROP", index_only=True) == [1, 4]
    assert _rows(trace, f"!({PROTO}.TS_PACKET_DELIVER OR {PROTO}.TS_PORT_CREATED)", index_only=True) == [1, 2, 4, 5, 6]
    # the other provider's event 54 is not this provider's drop
    assert 2 not in _rows(trace, f"{PROTO}.TS_PACKET_DROP")
    assert not compile_filter(f"{PROTO}.TS_PACKET_DROP OR {PROTO}", trace=trace).uses_decode


def test_aliases_and_spellings_resolve_to_the_provider(trace: SyntheticTrace) -> None:
    want = _rows(trace, f"{PROTO}.TS_PACKET_DROP")
    for spelling in ("MicrosoftWindowsTestSwitch.TS_PACKET_DROP", "Microsoft_Windows_Test_Switch.ts_packet_drop",
                     "test_microsoftwindowstestswitch.TS_Packet_Drop", f".Protocol.{PROTO}.TS_PACKET_DROP"):
        assert _rows(trace, spelling) == want, spelling
        assert compile_filter(spelling, trace=trace).canonical == f"{PROTO}.TS_PACKET_DROP"


def test_event_fields_decode_only_that_event(trace: SyntheticTrace) -> None:
    cf = compile_filter(f"{PROTO}.TS_PACKET_DROP.DropReason == 9", trace=trace)
    assert np.flatnonzero(cf.evaluate(trace)).tolist() == [4]
    assert cf.last_stats.decoded == 2  # only the two drop events
    assert _rows(trace, f'{PROTO}.TS_PACKET_DROP.NicName == "ADAPTER-A"') == [1]  # any case
    assert _rows(trace, f'{PROTO}.TS_PACKET_DROP.NicName.Contains("adapter")') == [1, 4]


def test_symbol_less_events_need_the_version_so_they_decode(trace: SyntheticTrace) -> None:
    cf = compile_filter(f"{PROTO}.Event_99", trace=trace)
    assert np.flatnonzero(cf.evaluate(trace)).tolist() == [5]
    assert cf.last_stats.decoded == 1  # event 99 rows only: the version is not in the index


def test_netevent_header_fields(trace: SyntheticTrace) -> None:
    assert _rows(trace, "NetEvent.Header.Descriptor.Id == 54", index_only=True) == [1, 2, 4]
    assert _rows(trace, "UTEvent.Header.Descriptor.Level == 0x2") == [1, 4]
    assert _rows(trace, f"{PROTO} AND NetEvent.Header.Descriptor.Opcode == 1") == [3]
    assert _rows(trace, "NetEvent.Header.ProcessId == 1234") == [1, 3]
    assert _rows(trace, "Property.EventID == 67") == [3]
    assert _rows(trace, "NetEvent.Header.Descriptor.Id in [58, 99]") == [0, 5, 6]


def test_protocol_name_description_and_processes(trace: SyntheticTrace) -> None:
    assert _rows(trace, 'ProtocolName == "other_provider"', index_only=True) == [2, 6]
    assert _rows(trace, 'Description.Contains("port CREATED")') == [3]
    assert _rows(trace, "Conversation.ProcessId == 4", index_only=True) == [0]
    assert _rows(trace, 'Conversation.ProcessName == "svc.exe"') == [1, 3]
    assert _rows(trace, 'Conversation.ProcessName.Contains("program files")') == [1, 3]
    assert _rows(trace, "Conversation.ProcessName") == [0, 1, 3]
    assert _rows(trace, 'ContainsBin(FrameData, ASCII, "HELLO")') == [6]


def test_a_provider_absent_from_the_trace_is_a_warning_not_an_error(trace: SyntheticTrace) -> None:
    cf = compile_filter("ABSENT_MicrosoftWindowsNothing OR NetEvent.Header.Descriptor.Id == 67", trace=trace)
    (w,) = cf.warnings
    assert "matches nothing in this trace" in w.message and w.column == 1
    assert np.flatnonzero(cf.evaluate(trace)).tolist() == [3]
    cf = compile_filter(f"{PROTO}.TS_PORT_CREATED", trace=trace)
    assert not cf.warnings
    # an event of a present provider that this trace does not have
    reg = trace.registry
    reg.define(f"{PROTO}.TS_UNUSED", FieldType.PROTOCOL, "", meta={"provider": GUID, "event_id": 1})
    (w,) = compile_filter(f"{PROTO}.TS_UNUSED", trace=trace).warnings
    assert "no such event" in w.message
    # without a trace there is nothing to warn about
    assert not compile_filter(f"{PROTO}.TS_UNUSED", registry=reg).warnings


def test_unknown_etw_provider_compiles_to_nothing_with_a_warning(trace: SyntheticTrace) -> None:
    cf = compile_filter("WLAN_MicrosoftWindowsWLANAutoConfig AND UTEvent.Header.Descriptor.Id == 2001", trace=trace)
    assert any("not a provider any bundled or loaded schema knows" in w.message for w in cf.warnings)
    assert not cf.evaluate(trace).any()
    with pytest.raises(FilterError) as info:
        compile_filter(f"{PROTO}.TS_PACKET_DROPP", trace=trace)
    assert f"{PROTO}.TS_PACKET_DROP" in info.value.suggestions


def test_bundled_vmswitch_names_resolve_with_metadata() -> None:
    cf = compile_filter("!(VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER OR "
                        "MicrosoftWindowsHyperVVmSwitch.VM_NBL_RECEIVE OR "
                        "Microsoft_Windows_Hyper_V_VmSwitch.VM_NBL_ROUTE)")
    assert cf.canonical == ("!(VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER OR "
                            "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_RECEIVE OR "
                            "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_ROUTE)")
    assert not cf.uses_decode


def test_completion_lists_events_under_the_provider(trace: SyntheticTrace) -> None:
    text = f"{PROTO}.TS_PA"
    c = complete(text, len(text), trace.registry, trace)
    assert [x.text for x in c.candidates] == ["TS_PACKET_DELIVER", "TS_PACKET_DROP"]
    assert c.start == len(PROTO) + 1 and c.end == len(text)
    text = "NetEvent.Header.Descriptor.Id == "
    values = [x.text for x in complete(text, len(text), trace.registry, trace).candidates]
    assert values == ["54", "58", "67", "99"]


def test_packet_events_keep_packet_semantics(trace: SyntheticTrace) -> None:
    assert KIND_PACKET != KIND_EVENT  # ETW packet frames have both bits; see test_filter_eval's ETL samples
