"""ETW payload decoding: VmSwitch and NDIS-PacketCapture events built byte by byte here (the
layouts come from the shared manifests and the derived VmSwitch field list), Netmon naming, the
field registry, and PktMon events from a real capture checked against Microsoft's ``pktmon
format`` text."""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Iterable

from conftest import sample
from tracemon.traces import REGISTRY, FieldType, open_trace
from tracemon.traces.etw.decode import DecodedEvent, decode_event, format_message, pktmon_components
from tracemon.traces.etw.naming import ensure_registered, provider_names
from tracemon.traces.etw.payload import Value
from tracemon.traces.etw.records import EventRecord, parse_record
from tracemon.traces.etw.schema import FieldSpec

VMSWITCH = uuid.UUID("67dc0d66-3695-47c0-9642-33f76f7bd7ad")
NDISCAP = uuid.UUID("2ed6006e-4729-4609-b423-3ee7bcd678ef")
PKTMON = uuid.UUID("4d4f80d9-c8bd-4d73-bb5b-19c90402c5ac")
AFD = uuid.UUID("e53c6823-7bb8-44bb-90dc-3f86090d48a6")
TCPIP = uuid.UUID("2f07e2ee-15db-40f1-90ef-9d7ba282188a")
VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"
EVH = struct.Struct("<HBBHHIIq16sHBBBBHQII16s")


def make_record(provider: uuid.UUID, event_id: int, payload: bytes, *, version: int = 0, ptr: int = 8,
                keyword: int = 0, level: int = 4, task: int = 0, opcode: int = 0,
                ext: Iterable[tuple[int, bytes]] = ()) -> EventRecord:
    """An EVENT_HEADER record as ETW packs it in a buffer (ETW.md §1.4–1.5), parsed by the reader's
    own header parser."""
    items = list(ext)
    blob = b""
    for n, (etype, data) in enumerate(items):
        size = 8 + ((len(data) + 7) & ~7)
        link = 1 if n + 1 < len(items) else 0
        blob += struct.pack("<HHHH", size, etype, link, len(data)) + data.ljust(size - 8, b"\0")
    size = EVH.size + len(blob) + len(payload)
    header = EVH.pack(size, 0x13 if ptr == 8 else 0x12, 0xC0, 1 if items else 0, 0, 0x1234, 0x5678, 0,
                      provider.bytes_le, event_id, version, 0, level, opcode, task, keyword, 0, 0, bytes(16))
    return parse_record(header + blob + payload)


def ustr(s: str) -> bytes:
    """A VmSwitch name pair member: u32 length in characters, then UTF-16LE without a NUL."""
    return struct.pack("<I", len(s)) + s.encode("utf-16-le")


def fields(dec: DecodedEvent) -> dict[str, object]:
    return {f.label: f for f in dec.layers[0].fields[0].children}  # type: ignore[misc]


# -- VmSwitch -----------------------------------------------------------------------------------

NIC, NIC_F = "3C3B1A2F-0D2E-4B5C-9C1B-2F6B2D1A0E11--5A6B", "VM01 Network Adapter"
SW, SW_F = "A7E2B8D4-1C1F-4E2B-8E55-6D1B0C5F2A90", "External vSwitch"
NBL = 0xFFFF_A50C_1234_5670


def nbl_payload(buffer_address: int, ptr: int = 8) -> bytes:
    # 56/58 (ETW.md App. A): NicName, NicFName, SwitchName, SwitchFName, BufferAddress
    return ustr(NIC) + ustr(NIC_F) + ustr(SW) + ustr(SW_F) + buffer_address.to_bytes(ptr, "little")


def test_vm_nbl_deliver_fields_names_and_byte_ranges() -> None:
    payload = nbl_payload(NBL)
    rec = make_record(VMSWITCH, 58, payload)
    dec = decode_event(rec)
    assert dec.protocol == VMS
    assert dec.provider_name == "Microsoft-Windows-Hyper-V-VmSwitch"
    assert dec.symbol == "VM_NBL_DELIVER" and dec.symbol_inferred
    assert dec.description == f"{VMS}:NBL 0x{NBL:X} delivered to NIC {NIC_F} on switch {SW_F}"
    layer = dec.layers[0]
    assert layer.label == "MicrosoftWindowsHyperVVmSwitch" and layer.protocol.name == VMS
    node = layer.fields[0]
    assert node.label == "VM_NBL_DELIVER" and node.fdef is not None and node.fdef.inferred
    f = fields(dec)
    assert [c.label for c in node.children] == ["NicNameLen", "NicName", "NicFNameLen", "NicFName", "SwitchNameLen",
                                                "SwitchName", "SwitchFNameLen", "SwitchFName", "BufferAddress"]
    assert f["NicNameLen"].value == len(NIC)
    assert f["NicName"].value == NIC and f["NicFName"].value == NIC_F
    assert f["SwitchName"].value == SW and f["SwitchFName"].value == SW_F
    assert f["BufferAddress"].value == NBL
    # byte ranges are offsets in the record: the header is 0x50 bytes, the payload follows
    base = 0x50
    assert rec.payload_offset == base
    name = f["NicFName"]
    off = payload.index(NIC_F.encode("utf-16-le"))
    assert (name.start, name.length) == (base + off, 2 * len(NIC_F))
    assert rec.record[name.start:name.start + name.length].decode("utf-16-le") == NIC_F
    addr = f["BufferAddress"]
    assert (addr.start, addr.length) == (base + len(payload) - 8, 8)
    assert f["NicFName"].fdef.name == f"{VMS}.VM_NBL_DELIVER.NicFName"
    assert f["NicFName"].fdef.type is FieldType.STRING
    assert f["BufferAddress"].fdef.type is FieldType.UINT
    assert dec.values["SwitchFName"] == SW_F and not dec.problems


def test_nbl_route_and_receive_and_drops() -> None:
    src, dst = "VM01 Network Adapter", "VM02 Network Adapter"
    route = (ustr("S1") + ustr(src) + ustr("D1") + ustr(dst) + ustr(SW) + ustr(SW_F) + NBL.to_bytes(8, "little"))
    dec = decode_event(make_record(VMSWITCH, 57, route))
    assert dec.symbol == "VM_NBL_ROUTE"
    assert dec.values["SrcNicFName"] == src and dec.values["DestNicFName"] == dst
    assert dec.message == f"NBL 0x{NBL:X} routed from NIC {src} to NIC {dst} on switch {SW_F}"

    assert decode_event(make_record(VMSWITCH, 56, nbl_payload(NBL))).symbol == "VM_NBL_RECEIVE"

    for eid, sym in ((54, "VM_NBL_INCOMING_DROP"), (55, "VM_NBL_OUTGOING_DROP")):
        drop = ustr(NIC) + ustr(NIC_F) + ustr(SW) + ustr(SW_F) + struct.pack("<I", 17)
        dec = decode_event(make_record(VMSWITCH, eid, drop))
        assert dec.symbol == sym and dec.symbol_inferred
        assert dec.values["DropReason"] == 17
        reason = fields(dec)["DropReason"]
        assert reason.display == "17 (Failed DHCP guard)"
        assert reason.fdef.name == f"{VMS}.{sym}.DropReason"

    ext = (ustr("Contoso Filter") + ustr("S") + ustr(src) + ustr("D") + ustr(dst) + ustr(SW) + ustr(SW_F))
    dec = decode_event(make_record(VMSWITCH, 59, ext))
    assert dec.symbol == "VM_NBL_EXTENSION_DROP"
    assert dec.values["ExtensionName"] == "Contoso Filter" and dec.values["DestNicFName"] == dst

    veto = (ustr("S") + ustr(src) + ustr(SW) + ustr(SW_F) + ustr("{9F2660EA-CFE7-428F-9850-AECA612619B0}")
            + ustr("Azure VFP") + ustr("policy denied"))
    dec = decode_event(make_record(VMSWITCH, 60, veto))
    assert dec.symbol is None and dec.event_name == "Event_60"
    assert dec.values["Reason"] == "policy denied"
    assert dec.description == f"{VMS}:NBL from NIC {src} dropped by extension Azure VFP on switch {SW_F}: policy denied"


def test_pointer_size_follows_the_header_type() -> None:
    small = decode_event(make_record(VMSWITCH, 58, nbl_payload(0x8123_4560, ptr=4), ptr=4))
    assert small.values["BufferAddress"] == 0x8123_4560 and not small.problems
    assert fields(small)["BufferAddress"].length == 4
    pd = decode_event(make_record(VMSWITCH, 240, nbl_payload(NBL)))
    assert pd.symbol == "VM_PD_BUFFER_RECEIVE"
    assert decode_event(make_record(VMSWITCH, 242, ustr("a") * 6 + bytes(8))).symbol == "VM_PD_BUFFER_ROUTE"


def test_short_payloads_decode_what_is_there_and_never_raise() -> None:
    full = nbl_payload(NBL)
    for cut in range(len(full)):
        dec = decode_event(make_record(VMSWITCH, 58, full[:cut]))
        node = dec.layers[0].fields[0]
        assert dec.description.startswith(VMS + ":")
        decoded = [c for c in node.children if c.fdef is not None]
        missing = [c for c in node.children if c.display.startswith("(missing")]
        partial = [c for c in node.children if "(partial" in c.label]
        assert len(decoded) + len(missing) == 9
        assert sum(c.length for c in decoded + partial) == cut
        if cut < len(full):
            assert dec.problems and dec.problems[0].startswith("payload ends early")
            assert missing[0].label == ["NicNameLen", "NicName", "NicFNameLen", "NicFName", "SwitchNameLen",
                                        "SwitchName", "SwitchFNameLen", "SwitchFName", "BufferAddress"][len(decoded)]


def test_trailing_bytes_are_shown_as_hex() -> None:
    extra = b"\xde\xad\xbe\xef"
    dec = decode_event(make_record(VMSWITCH, 58, nbl_payload(NBL) + extra))
    last = dec.layers[0].fields[0].children[-1]
    assert last.fdef is None and last.label == "Trailing data (4 bytes)"
    assert last.value == extra and last.display == "DE AD BE EF"
    assert last.start == 0x50 + len(nbl_payload(NBL))


def test_length_fields_that_lie_are_bounded_by_the_payload() -> None:
    bad = struct.pack("<I", 0x7FFFFFFF) + "x".encode("utf-16-le")
    dec = decode_event(make_record(VMSWITCH, 58, bad))
    assert dec.problems and "NicName" in dec.problems[0]


def test_registry_names_for_bundled_providers() -> None:
    ensure_registered(REGISTRY)
    deliver = REGISTRY.get(f"{VMS}.VM_NBL_DELIVER")
    assert deliver is not None and deliver.type is FieldType.PROTOCOL and deliver.inferred
    assert deliver.meta == {"provider": str(VMSWITCH), "event_id": 58, "version": 0}
    assert REGISTRY.get(VMS).meta == {"provider": str(VMSWITCH)}
    assert REGISTRY.get(f"{VMS}.VM_NBL_ROUTE.DestNicFName").type is FieldType.STRING
    # the aliases Netmon's tree label and Message Analyzer use
    assert REGISTRY.get("MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER") is deliver
    assert REGISTRY.get("Microsoft_Windows_Hyper_V_VmSwitch.VM_NBL_RECEIVE").meta["event_id"] == 56
    assert REGISTRY.get("Wscore_MicrosoftWindowsWinsockAFD") is not None
    assert REGISTRY.get("PktMon_MicrosoftWindowsPktMon.FramePayload.DropReason").enum[8] == "Filtered"
    assert REGISTRY.get("PktMon_MicrosoftWindowsPktMon.FramePayload").inferred is False
    sym = REGISTRY.get("PacketCapture_MicrosoftWindowsNDISPacketCapture.VSwitchPacketFragment.Destination.PortId")
    assert sym is not None and sym.type is FieldType.UINT


def test_provider_names() -> None:
    assert provider_names(VMSWITCH) == ("Microsoft-Windows-Hyper-V-VmSwitch", VMS)
    assert provider_names(PKTMON) == ("Microsoft-Windows-PktMon", "PktMon_MicrosoftWindowsPktMon")
    assert provider_names(AFD) == ("Microsoft-Windows-Winsock-AFD", "Wscore_MicrosoftWindowsWinsockAFD")
    assert provider_names(TCPIP) == ("Microsoft-Windows-TCPIP", "TCPIP_MicrosoftWindowsTCPIP")
    odd = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    assert provider_names(odd) == ("{01234567-89ab-cdef-0123-456789abcdef}", "ETW_0123456789abcdef0123456789abcdef")


def test_unknown_providers_and_events_show_the_payload_as_hex() -> None:
    odd = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    dec = decode_event(make_record(odd, 7, b"\x01\x02\x03"))
    assert dec.protocol == "ETW_0123456789abcdef0123456789abcdef"
    assert dec.description == "ETW_0123456789abcdef0123456789abcdef:Event 7"
    (only,) = dec.layers[0].fields
    assert only.label == "UserData" and only.value == b"\x01\x02\x03" and only.start == 0x50
    dec = decode_event(make_record(VMSWITCH, 9999, b"\xff"))
    assert dec.protocol == VMS and dec.description == f"{VMS}:Event 9999" and dec.problems


# -- NDIS-PacketCapture ---------------------------------------------------------------------------

ETH = bytes.fromhex("ffffffffffff00155d010203080600010800060400010015") + bytes(20)


def test_ndis_1001_fragment_and_keywords() -> None:
    # MiniportIfIndex, LowerIfIndex, FragmentSize, Fragment[FragmentSize], GftFlowEntryId, GftOffloadInformation
    payload = struct.pack("<III", 12, 14, len(ETH)) + ETH + struct.pack("<QQ", 0, 0)
    kw = 0x200000000 | 0x40000000 | 0x80000000 | 0x1
    dec = decode_event(make_record(NDISCAP, 1001, payload, keyword=kw))
    assert dec.protocol == "PacketCapture_MicrosoftWindowsNDISPacketCapture"
    assert dec.keyword_names == ["Ethernet802.3", "PacketStart", "PacketEnd", "ut:ReceivePath"]
    assert dec.level_name == "Information"
    f = fields(dec)
    assert f["MiniportIfIndex"].value == 12 and f["LowerIfIndex"].value == 14
    frag = f["Fragment"]
    assert frag.value == ETH and (frag.start, frag.length) == (0x50 + 12, len(ETH))
    assert frag.fdef.type is FieldType.BYTES
    assert dec.message == f"Packet fragment of {len(ETH)} bytes, interface 14 (miniport 12)"
    # a build without the GFT fields (before 19H1): decodes, the two fields are marked missing
    old = decode_event(make_record(NDISCAP, 1001, payload[:-16], keyword=kw))
    assert old.values["Fragment"] == ETH
    assert [c.label for c in old.layers[0].fields[0].children if c.start < 0] == ["GftFlowEntryId",
                                                                                 "GftOffloadInformation"]


def test_ndis_1003_vmswitch_fragment_with_destinations() -> None:
    oob = bytes(range(16))
    payload = (struct.pack("<III", 3, 3, 7)
               + "PORT-7\0".encode("utf-16-le") + "VM01 NIC\0".encode("utf-16-le") + "Synthetic\0".encode("utf-16-le")
               + struct.pack("<I", 2) + struct.pack("<IIII", 9, 1, 11, 0)
               + struct.pack("<I", len(ETH)) + ETH + struct.pack("<I", len(oob)) + oob)
    dec = decode_event(make_record(NDISCAP, 1003, payload, keyword=0x1000000 | 0x100000000))
    assert dec.values["SourcePortName"] == "PORT-7" and dec.values["SourceNicType"] == "Synthetic"
    assert dec.values["Destination"] == [{"PortId": 9, "NicIndex": 1}, {"PortId": 11, "NicIndex": 0}]
    assert dec.values["Fragment"] == ETH and dec.values["OOBData"] == oob
    f = fields(dec)
    dest = f["Destination"]
    assert [c.label for c in dest.children] == ["Destination[0]", "Destination[1]"]
    port = dest.children[1].children[0]
    assert port.fdef.name.endswith(".Destination.PortId") and port.value == 11
    assert dec.keyword_names == ["VMSwitch", "ut:SendPath"]
    assert f["Fragment"].start == 0x50 + payload.index(ETH)


# -- PktMon from a real capture --------------------------------------------------------------------

def _pktmon_lines() -> list[str]:
    text = sample("etl/pktmon_vpn_20210601.pktmon-format.utf16.txt").read_bytes().decode("utf-16")
    return [line.split("[Microsoft-Windows-PktMon] ", 1)[1] for line in text.splitlines()
            if "[Microsoft-Windows-PktMon] " in line]


def _norm(s: str) -> str:
    return re.sub(r"\s+,", ",", " ".join(s.split()))


def test_pktmon_descriptions_match_pktmon_format() -> None:
    """Every PktMon event's Description equals the line Microsoft's ``pktmon format`` printed for it
    (the manifest's map strings end in a space there; whitespace is normalised)."""
    trace = open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False)
    lines = _pktmon_lines()
    rows = [i for i in range(len(trace)) if trace.reader.record(i).provider == PKTMON]
    assert len(rows) == len(lines) == 4514
    seen = set()
    for i, line in zip(rows, lines, strict=True):
        dec = decode_event(trace.reader.record(i), trace)
        assert dec.protocol == "PktMon_MicrosoftWindowsPktMon"
        _, _, text = dec.description.partition(":")
        assert _norm(text) == _norm(line), f"row {i}"
        seen.add(dec.symbol)
    assert {"FramePayload", "ComponentInfo", "CompPropUint", "PacketFlowCounters"} <= seen


def test_pktmon_component_names_and_maps() -> None:
    trace = open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False)
    expected = {}
    for line in _pktmon_lines():
        m = re.match(r"Component (\d+), Type (.*?)\s*, Name (.*?), (.*?)\s*$", line)
        if m:
            expected[int(m.group(1))] = (m.group(2), m.group(3), m.group(4))
    comps = pktmon_components(trace)
    assert len(expected) == 131
    assert {c.id: (c.type_name, c.name, c.description) for c in comps.values()} == expected
    # a packet event names its component in the detail pane
    row = next(i for i in range(len(trace)) if trace.reader.record(i).event_id == 160)
    dec = decode_event(trace.reader.record(row), trace)
    comp = fields(dec)["ComponentId"]
    want = expected[comp.value]
    assert comp.display == f"{comp.value} ({want[1]}: {want[2]})"
    assert fields(dec)["DirTag"].fdef.enum[4] == "Tx"


def test_pktmon_components_of_a_scan_that_ends_while_they_are_read() -> None:
    """A table begun while the scan runs is a partial one even if the scan ends before it is done."""
    import threading

    import numpy as np

    trace = open_trace(sample("etl/pktmon_vpn_20210601.etl"), use_cache=False)
    full = pktmon_components(trace)
    comp_rows = [i for i in range(len(trace)) if trace.reader.record(i).event_id == 20]

    class Rows:  # the index as a scan that has read the first ``n`` rows shows it
        def __init__(self, n: int) -> None:
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __getattr__(self, name: str) -> np.ndarray:
            return getattr(trace.index, name)[: self.n]

    class Reader:
        def record(self, i: int):
            scanning.complete.set()  # the scan finishes while the table is being read
            return trace.reader.record(i)

    class Scanning:
        providers = trace.providers
        complete = threading.Event()
        index = Rows(comp_rows[len(comp_rows) // 2])
        reader = Reader()

    scanning = Scanning()
    first = pktmon_components(scanning)
    assert 0 < len(first) < len(full)
    scanning.index = Rows(len(trace))
    assert pktmon_components(scanning) == full


def test_every_sample_event_decodes_without_error() -> None:
    for name in ("pktmon_demikernel.etl", "pktmon_gobang_nopackets.etl", "netsh_ndis_wifi_1pkt.etl",
                 "perfview_gcevents.etl"):
        trace = open_trace(sample(f"etl/{name}"), use_cache=False)
        for i in range(len(trace)):
            dec = decode_event(trace.reader.record(i), trace)
            assert dec.description.startswith(dec.protocol + ":")
            assert dec.layers and not dec.problems, (name, i, dec.problems)


# -- FormatMessage -----------------------------------------------------------------------------------

def _v(text: str, value: object = None) -> Value:
    return Value(FieldSpec("x", "UInt32"), value, 0, 0, text, text)


def test_format_message_rules() -> None:
    vals = [_v("one"), _v("255", 255), _v("three")]
    assert format_message("a %1 b %2!x! c %% d%ne %3", vals) == "a one b ff c % d\ne three"
    assert format_message("%2!08X!|%2!lu!|%2!I64x!", vals) == "000000FF|255|ff"
    assert format_message("%1 %0 ignored", vals) == "one "
    assert format_message("%9 and %1", vals) == " and one"
    assert format_message("100%% %. %!", vals) == "100% . !"


def test_netmon_ntstatus_parts_for_the_attested_afd_filter() -> None:
    """``Wscore_MicrosoftWindowsWinsockAFD.AFD_EVENT_BIND.Status.LENTStatus.Code == 0x209`` (Microsoft's
    port-exhaustion guide): event 2 = Process, Endpoint (pointers), Address u32, Port u16, Status u32."""
    payload = struct.pack("<QQIHI", 0xFFFF_9000, 0xFFFF_9100, 0x0100007F, 0x5000, 0xC0000209)
    dec = decode_event(make_record(AFD, 2, payload))
    assert dec.symbol == "AFD_EVENT_BIND" and dec.symbol_inferred
    status = fields(dec)["Status"]
    assert status.value == 0xC0000209 and status.display == "0xC0000209 (STATUS_TOO_MANY_ADDRESSES)"
    (parts,) = status.children
    got = {c.label: c.value for c in parts.children}
    assert got == {"Code": 0x209, "Facility": 0, "Customer": 0, "Severity": 3}
    code = parts.children[0]
    assert code.fdef is not None and code.fdef.name == "Wscore_MicrosoftWindowsWinsockAFD.AFD_EVENT_BIND.Status.LENTStatus.Code"
    assert REGISTRY.get("MicrosoftWindowsWinsockAFD.AFD_EVENT_BIND.Status.LENTStatus.Code") is code.fdef
    assert not code.fdef.inferred and REGISTRY.get(code.fdef.name.replace("Code", "Severity")).inferred
