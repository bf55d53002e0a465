"""Instrumentation-manifest loading: the repnz XML dumps, hand-written manifests in both shapes
(MC source/dump form and ``wevtutil gp /f:xml`` form), user overrides, symbol maps, and the
bundled schema files (which must equal what the generator makes from the shared manifests)."""

from __future__ import annotations

import json
import re
import struct
import uuid
from pathlib import Path

import pytest
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_etw_decode import VMS, VMSWITCH, make_record, nbl_payload, ustr
from tracemon.traces import REGISTRY, FieldType
from tracemon.traces.etw import build_schemas
from tracemon.traces.etw.decode import decode_event
from tracemon.traces.etw.manifest import load_manifest, load_manifest_text
from tracemon.traces.etw.payload import Template
from tracemon.traces.etw.schema import (
    STORE,
    SchemaStore,
    load_user_schemas,
    provider_from_json,
    provider_to_json,
)
from tracemon.traces.etw.symbols import parse_symbols

MANIFESTS = SHARED / "manifests"
REPNZ = sorted((MANIFESTS / "repnz-win10-18990").glob("*.xml")) + sorted((MANIFESTS / "repnz-win7-7600").glob("*.xml"))


@pytest.fixture(autouse=True)
def _clean_store():
    STORE.clear_user()
    yield
    STORE.clear_user()


def _need_manifests() -> None:
    if not REPNZ:
        pytest.skip(f"shared manifests not found under {MANIFESTS}")


@pytest.mark.parametrize("path", REPNZ, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_repnz_manifest_loads_and_every_template_compiles(path: Path) -> None:
    providers, warnings = load_manifest(path)
    assert warnings == []
    (p,) = providers
    text = path.read_text(encoding="utf-8")
    assert len(p.events) == len(re.findall(r"<event\s", text))
    assert p.guid == uuid.UUID(re.search(r'guid="\{([^}]+)\}"', text).group(1))
    templated = {m.group(1) for m in re.finditer(r'<event [^>]*value="(\d+)"[^>]*template="', text)}
    for ev in p.events.values():
        assert bool(ev.fields) == (str(ev.id) in templated)
        for ptr in (4, 8):
            t = Template(ev.fields, ptr, p.maps)
            empty = t.decode(b"")
            assert empty.values == [] or all(v.length == 0 for v in empty.values)
            zeros = t.decode(bytes(4096))  # zero lengths and counts: every field decodes
            assert zeros.stopped is None and len(zeros.values) == len(ev.fields)


def test_manifest_maps_tasks_opcodes_keywords() -> None:
    _need_manifests()
    (p,), _ = load_manifest(MANIFESTS / "repnz-win10-18990" / "Microsoft-Windows-NDIS-PacketCapture.xml")
    assert p.keywords[0x10000] == "Native802.11" and p.keywords[0x100000000] == "ut:SendPath"
    assert p.tasks[5] == "Rules" and p.opcodes[(5, 21)] == "LoadingState"
    assert p.maps["RuleIdMap"].entries[0xA] == "Source IPv4 Address"
    ev = p.events[(1016, 0)]
    assert [f.name for f in ev.fields] == ["RuleId", "Directive", "Length", "Value"]
    assert ev.fields[0].map == "RuleIdMap" and ev.fields[3].length == "Length"
    d = Template(ev.fields, 8, p.maps).decode(bytes([0xA, 0x83]) + struct.pack("<H", 4) + bytes([10, 0, 0, 1]))
    assert [v.text for v in d.values] == ["Source IPv4 Address", "NEQ", "4", "0x0A000001"]
    assert d.values[0].display == "10 (Source IPv4 Address)"
    assert p.events[(2001, 0)].level == 2 and p.events[(2001, 0)].opcode == 21
    assert p.events[(1001, 0)].keywords == 0x20000000000 | 0x40000000000


MAN = """<?xml version="1.0" encoding="UTF-8"?>
<instrumentationManifest xmlns="http://schemas.microsoft.com/win/2004/08/events"
    xmlns:win="http://manifests.microsoft.com/win/2004/08/windows/events">
 <instrumentation><events>
  <provider name="Contoso-Test" guid="{11111111-2222-3333-4444-555555555555}" symbol="CONTOSO">
   <channels><channel chid="op" name="Contoso-Test/Operational" type="Operational" value="16"/></channels>
   <levels><level name="Noisy" value="17" message="$(string.level.noisy)"/></levels>
   <tasks><task name="Connect" value="7" message="$(string.task.connect)">
     <opcodes><opcode name="Retry" value="12" message="$(string.op.retry)"/></opcodes></task></tasks>
   <keywords><keyword name="Wire" mask="0x4" message="$(string.kw.wire)"/></keywords>
   <maps>
    <valueMap name="StateMap"><map value="1" message="$(string.map.up)"/><map value="2" message="$(string.map.down)"/></valueMap>
    <bitMap name="FlagMap"><map value="0x1" message="$(string.map.f1)"/><map value="0x4" message="$(string.map.f4)"/></bitMap>
   </maps>
   <templates>
    <template tid="T1">
     <data name="State" inType="win:UInt8" map="StateMap"/>
     <data name="Flags" inType="win:UInt32" map="FlagMap"/>
     <data name="Count" inType="win:UInt16"/>
     <struct name="Peer" count="Count">
      <data name="Address" inType="win:UInt32" outType="win:IPv4"/>
      <data name="Port" inType="win:UInt16" outType="win:Port"/>
     </struct>
     <data name="NameChars" inType="win:UInt32"/>
     <data name="Name" inType="win:UnicodeString" length="NameChars"/>
     <data name="Sid" inType="win:SID"/>
     <data name="Handle" inType="win:Pointer"/>
     <data name="When" inType="win:FILETIME"/>
     <data name="Result" inType="win:UInt32" outType="win:NTSTATUS"/>
     <data name="Remote" inType="win:Binary" outType="win:SocketAddress" length="16"/>
    </template>
   </templates>
   <events>
    <event value="5" version="1" symbol="CONTOSO_CONNECT_RETRY" task="Connect" opcode="Retry" level="Noisy"
           keywords="Wire" channel="op" template="T1" message="$(string.event.5)"/>
    <event value="6" symbol="CONTOSO_BARE" level="win:Error" opcode="win:Stop"/>
   </events>
  </provider>
 </events></instrumentation>
 <localization><resources culture="en-US"><stringTable>
  <string id="level.noisy" value="Noisy"/><string id="task.connect" value="Connect"/>
  <string id="op.retry" value="Retry"/><string id="kw.wire" value="On the wire"/>
  <string id="map.up" value="Up"/><string id="map.down" value="Down"/>
  <string id="map.f1" value="Fast"/><string id="map.f4" value="Secure"/>
  <string id="event.5" value="Peer %6 is %1 (flags %2) after %3 peers;%nresult %10!08x!, 100%%"/>
 </stringTable></resources></localization>
</instrumentationManifest>
"""

SID = bytes([1, 2, 0, 0, 0, 0, 0, 5]) + struct.pack("<II", 32, 544)  # S-1-5-32-544
FILETIME_2021 = 0x01D7A58B4DFA1070  # 2021-09-09 14:59:35.799 UTC (datetime(1601, 1, 1) + 100 ns ticks)


def contoso_payload() -> bytes:
    peers = struct.pack("<I", 0x0A000001)[::-1] + struct.pack(">H", 443) + bytes([192, 168, 1, 9]) + struct.pack(">H", 80)
    sockaddr = struct.pack("<H", 2) + struct.pack(">H", 8080) + bytes([127, 0, 0, 1]) + bytes(8)
    return (bytes([2]) + struct.pack("<I", 0x5) + struct.pack("<H", 2) + peers + struct.pack("<I", 3)
            + "bob".encode("utf-16-le") + SID + struct.pack("<Q", 0xFFFF_8000_0000_1000)
            + struct.pack("<Q", FILETIME_2021) + struct.pack("<I", 0xC0000022) + sockaddr)


def test_source_manifest_with_structs_maps_and_messages() -> None:
    (p,), warnings = load_manifest_text(MAN, "contoso.man")
    assert warnings == []
    ev = p.events[(5, 1)]
    assert (ev.symbol, ev.symbol_origin, ev.task, ev.opcode, ev.level, ev.keywords, ev.channel) == (
        "CONTOSO_CONNECT_RETRY", "manifest", 7, 12, 17, 0x4, 16)
    assert p.level_name(17) == "Noisy" and p.opcode_name(7, 12) == "Retry" and p.channels[16] == "Contoso-Test/Operational"
    assert p.events[(6, 0)].level == 2 and p.events[(6, 0)].opcode == 2
    payload = contoso_payload()
    d = Template(ev.fields, 8, p.maps).decode(payload)
    assert d.stopped is None and d.end == len(payload)
    v = d.by_name()
    assert v["State"].display == "2 (Down)" and v["Flags"].text == "Fast|Secure"
    assert v["Peer"].value == [{"Address": 0x0A000001, "Port": 443}, {"Address": 0xC0A80109, "Port": 80}]
    assert v["Peer"].children[1].children[0].text == "192.168.1.9"
    assert v["Name"].value == "bob" and v["Sid"].value == "S-1-5-32-544"
    assert v["Handle"].text == "0xFFFF800000001000"
    assert v["When"].value == (FILETIME_2021 - 116444736000000000) * 100
    assert v["When"].text == "2021-09-09 14:59:35.7990000 UTC"
    assert v["Result"].text == "0xC0000022 (STATUS_ACCESS_DENIED)" and v["Remote"].value == "127.0.0.1:8080"
    # the same through decode_event, as a user manifest
    guid = uuid.UUID("11111111-2222-3333-4444-555555555555")
    store_warnings = _load_text(MAN, "contoso.man")
    assert store_warnings == []
    dec = decode_event(make_record(guid, 5, payload, version=1, task=7, opcode=12, level=17, keyword=0x4))
    assert dec.protocol == "Test_ContosoTest" and dec.symbol == "CONTOSO_CONNECT_RETRY" and not dec.symbol_inferred
    assert dec.message == "Peer bob is Down (flags Fast|Secure) after 2 peers;\nresult c0000022, 100%"
    assert dec.description == "Test_ContosoTest:Peer bob is Down (flags Fast|Secure) after 2 peers; result c0000022, 100%"
    assert (dec.task_name, dec.opcode_name, dec.level_name, dec.keyword_names) == ("Connect", "Retry", "Noisy",
                                                                                  ["On the wire"])
    assert REGISTRY.get("Test_ContosoTest.CONTOSO_CONNECT_RETRY.Peer.Address").type is FieldType.IPV4


class FakeTrace:
    """What decode_event needs of a trace when there is no file: its registry overlay."""

    def __init__(self, registry) -> None:
        self.registry = registry


def _load_text(text: str | bytes, name: str, registry=REGISTRY) -> list[str]:
    import tempfile

    d = Path(tempfile.mkdtemp())
    f = d / name
    f.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return load_user_schemas([f], registry)


WEVTUTIL = """<?xml version="1.0" encoding="UTF-8"?>
<provider name="Microsoft-Windows-Hyper-V-VmSwitch" guid="{67dc0d66-3695-47c0-9642-33f76f7bd7ad}"
  helpLink="https://go.microsoft.com/fwlink/events.asp" resourceFileName="C:\\Windows\\System32\\drivers\\vmswitch.sys"
  messageFileName="C:\\Windows\\System32\\drivers\\vmswitch.sys" message="Microsoft-Windows-Hyper-V-VmSwitch">
 <channels><channel name="System" id="8" flags="1" message="System"></channel></channels>
 <levels><level name="win:Informational" value="4" message="Information"></level></levels>
 <opcodes><opcode name="win:Start" value="65536" message="Start"></opcode></opcodes>
 <tasks><task name="NblDatapath" value="3" eventGUID="{00000000-0000-0000-0000-000000000000}" message="NBL datapath"></task></tasks>
 <keywords><keyword name="Datapath" mask="0x40" message="Datapath"></keyword></keywords>
 <events>
  <event value="58" version="0" opcode="1" channel="8" level="4" task="3" keywords="0x8000000000000040"
         message="NBL %9 was delivered to nic %2 (Friendly Name: %4) on switch %6 (Friendly Name: %8).">
   <template>&lt;template xmlns="http://schemas.microsoft.com/win/2004/08/events"&gt;
  &lt;data name="NicNameLen" inType="win:UInt32" outType="xs:unsignedInt"/&gt;
  &lt;data name="NicName" inType="win:UnicodeString" outType="xs:string" length="NicNameLen"/&gt;
  &lt;data name="NicFNameLen" inType="win:UInt32" outType="xs:unsignedInt"/&gt;
  &lt;data name="NicFName" inType="win:UnicodeString" outType="xs:string" length="NicFNameLen"/&gt;
  &lt;data name="SwitchNameLen" inType="win:UInt32" outType="xs:unsignedInt"/&gt;
  &lt;data name="SwitchName" inType="win:UnicodeString" outType="xs:string" length="SwitchNameLen"/&gt;
  &lt;data name="SwitchFNameLen" inType="win:UInt32" outType="xs:unsignedInt"/&gt;
  &lt;data name="SwitchFName" inType="win:UnicodeString" outType="xs:string" length="SwitchFNameLen"/&gt;
  &lt;data name="NblAddress" inType="win:Pointer" outType="win:HexInt64"/&gt;
&lt;/template&gt;
   </template>
  </event>
  <event value="300" version="0" opcode="0" channel="8" level="4" task="0" keywords="0x8000000000000080"
         message="vmswitch.sys build %1">
   <template><template xmlns="http://schemas.microsoft.com/win/2004/08/events">
    <data name="BuildNumber" inType="win:UInt32"/></template></template>
  </event>
 </events>
</provider>
"""


def test_wevtutil_output_overrides_the_bundled_schema_and_keeps_our_symbols() -> None:
    overlay = REGISTRY.overlay()
    # PowerShell's ">" writes UTF-16 with a BOM while the declaration still says UTF-8
    warnings = _load_text(WEVTUTIL.encode("utf-16"), "vmswitch.xml", overlay)
    assert warnings == []
    trace = FakeTrace(overlay)
    dec = decode_event(make_record(VMSWITCH, 58, nbl_payload(0xABC0), task=3, opcode=1, keyword=0x40), trace)
    assert dec.schema_origin.startswith("manifest:")
    assert dec.symbol == "VM_NBL_DELIVER" and dec.symbol_inferred  # the dump has no symbols: ours stay
    assert dec.values["NblAddress"] == 0xABC0 and "BufferAddress" not in dec.values
    assert dec.message == ("NBL 0xABC0 was delivered to nic 3C3B1A2F-0D2E-4B5C-9C1B-2F6B2D1A0E11--5A6B "
                           "(Friendly Name: VM01 Network Adapter) on switch A7E2B8D4-1C1F-4E2B-8E55-6D1B0C5F2A90 "
                           "(Friendly Name: External vSwitch).")
    assert (dec.task_name, dec.opcode_name, dec.level_name, dec.keyword_names) == (
        "NBL datapath", "Start", "Information", ["Datapath"])
    # new names go into the overlay; the overlay shadows the bundled definitions
    assert overlay.get(f"{VMS}.VM_NBL_DELIVER.NblAddress") is not None
    assert REGISTRY.get(f"{VMS}.VM_NBL_DELIVER.NblAddress") is None
    # a trace opened later gets the user's names in its own overlay on its first decode
    later = FakeTrace(REGISTRY.overlay())
    decode_event(make_record(VMSWITCH, 56, nbl_payload(1)), later)
    assert later.registry.get(f"{VMS}.Event_300.BuildNumber") is not None
    new = decode_event(make_record(VMSWITCH, 300, struct.pack("<I", 26100)), trace)
    assert new.description == f"{VMS}:vmswitch.sys build 26100" and new.symbol is None
    assert overlay.get(f"{VMS}.Event_300.BuildNumber").type is FieldType.UINT


def test_symbol_maps() -> None:
    text = "# provider: {67DC0D66-3695-47C0-9642-33F76F7BD7AD}\n58\tVM_NBL_DELIVER_REAL\n56 , 0 , VM_NBL_IN\nbad line\n"
    provider, table, warnings = parse_symbols(text, "x.tsv")
    assert provider == "{67DC0D66-3695-47C0-9642-33F76F7BD7AD}"
    assert table == {(58, None): "VM_NBL_DELIVER_REAL", (56, 0): "VM_NBL_IN"}
    assert len(warnings) == 1 and "line 4" in warnings[0]
    overlay = REGISTRY.overlay()
    assert _load_text("58\tVM_NBL_DELIVER_REAL\n", "Microsoft-Windows-Hyper-V-VmSwitch.symbols.tsv", overlay) == []
    dec = decode_event(make_record(VMSWITCH, 58, nbl_payload(1)), FakeTrace(overlay))
    assert dec.symbol == "VM_NBL_DELIVER_REAL" and not dec.symbol_inferred
    assert dec.layers[0].fields[0].fdef.name == f"{VMS}.VM_NBL_DELIVER_REAL"
    assert overlay.get(f"{VMS}.VM_NBL_DELIVER_REAL.NicFName") is not None
    # PowerShell's ">" writes UTF-16 with a BOM
    STORE.clear_user()
    overlay = REGISTRY.overlay()
    assert _load_text("56\tVM_NBL_IN_16\n".encode("utf-16"), "Microsoft-Windows-Hyper-V-VmSwitch.symbols.tsv",
                      overlay) == []
    assert decode_event(make_record(VMSWITCH, 56, nbl_payload(1)), FakeTrace(overlay)).symbol == "VM_NBL_IN_16"


def test_symbol_maps_reach_other_versions_and_leave_the_bundled_schema_alone() -> None:
    store = SchemaStore()
    assert store.get(VMSWITCH).event(58, 1).symbol == "VM_NBL_DELIVER"  # version 1 falls back to 0
    store.add_symbols(VMSWITCH, {(58, None): "VM_NBL_DELIVER_REAL"})
    assert store.get(VMSWITCH).event(58, 1).symbol == "VM_NBL_DELIVER_REAL"
    assert store.get(VMSWITCH).event(58, 2).symbol == "VM_NBL_DELIVER_REAL"
    store.clear_user()
    assert store.get(VMSWITCH).event(58, 2).symbol == "VM_NBL_DELIVER"


def test_bad_user_files_give_warnings_not_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.xml").write_text("<instrumentationManifest><provider name='x'")
    (tmp_path / "odd.xml").write_text(MAN.replace('inType="win:UInt8" map', 'inType="win:Quux" map'))
    (tmp_path / "nobody.symbols.tsv").write_text("1\tA\n")
    warnings = load_user_schemas([tmp_path, tmp_path / "missing.xml"], REGISTRY.overlay())
    text = "\n".join(warnings)
    assert "broken.xml: not valid XML at line 1" in text
    assert "odd.xml: template T1 field State: unknown inType 'win:Quux'" in text
    assert "unknown provider 'nobody'" in text and "missing.xml: no such file" in text


# -- the bundled schema files ---------------------------------------------------------------------

def test_bundled_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    _need_manifests()
    build_schemas.build(MANIFESTS, tmp_path)
    committed = Path(build_schemas.OUT_DIR)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in committed.glob("*.json"))
    for name in made:
        assert (tmp_path / name).read_text(encoding="utf-8") == (committed / name).read_text(encoding="utf-8"), name


def test_bundled_schema_facts() -> None:
    store = SchemaStore()
    vms = store.get(VMSWITCH)
    derived = (MANIFESTS / "derived" / "Microsoft-Windows-Hyper-V-VmSwitch.fields.tsv")
    if derived.exists():
        ids = {int(line.split("\t")[0]) for line in derived.read_text().splitlines() if line[:1].isdigit()}
        assert {k[0] for k in vms.events} == ids  # every event id of the derived list
    ev = vms.events[(58, 0)]
    name = next(f for f in ev.fields if f.name == "NicName")
    assert (name.type, name.length) == ("UnicodeString", "NicNameLen")
    assert all(e.symbol_inferred for e in vms.events.values() if e.symbol)
    pkt = store.get(uuid.UUID("4d4f80d9-c8bd-4d73-bb5b-19c90402c5ac"))
    drop = pkt.maps["DropReason"].entries
    assert drop[8] == "Filtered" and drop[401] == "MicroportError" and drop[104] == "Unsupported EtherType"
    ndis = store.get(uuid.UUID("2ed6006e-4729-4609-b423-3ee7bcd678ef"))
    dest = next(f for f in ndis.events[(1003, 0)].fields if f.name == "Destination")
    assert dest.type == "Struct" and dest.count == "DestinationCount" and "NDIS_SWITCH_PORT_DESTINATION" in dest.note
    tcpip = store.get(uuid.UUID("2f07e2ee-15db-40f1-90ef-9d7ba282188a"))
    v6 = tcpip.events[(1202, 6)]  # a Win11 version only the jdu2600 TSV has
    v6addr = next(f for f in v6.fields if f.name == "IPv6Address")
    assert v6addr.length == "IpAddrLength"


def test_json_round_trip_of_the_xml_providers() -> None:
    _need_manifests()
    for path in REPNZ:
        (p,), _ = load_manifest(path)
        again = provider_from_json(json.loads(json.dumps(provider_to_json(p))), origin=p.origin)
        assert again.events == p.events and again.maps == p.maps and again.keywords == p.keywords
        assert again.tasks == p.tasks and again.opcodes == p.opcodes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), event_id=st.sampled_from([54, 56, 57, 58, 59, 60, 88, 123, 232]),
       ptr=st.sampled_from([4, 8]))
def test_random_payloads_never_raise(data: bytes, event_id: int, ptr: int) -> None:
    dec = decode_event(make_record(VMSWITCH, event_id, data, ptr=ptr))
    node = dec.layers[0].fields[0]
    covered = sum(c.length for c in node.children if c.start >= 0)
    assert covered == len(data)  # every byte is shown: as a field, a partial field or trailing data


def test_vmswitch_string_pairs_count_characters() -> None:
    """Event 232 as Event Viewer showed it: NicNameLen 74 with a 74-character name, SwitchFNameLen
    22 with "WSL (Hyper-V firewall)" (SOURCES.md)."""
    nic = "E5C4A6C1-4D6E-4F2B-9C7A-3D2E1F0A9B8C--0B7D6E5F-4A3B-4C2D-8E1F-0A9B8C7D6E5F"
    assert len(nic) == 74
    payload = ustr(nic) + ustr("eth0") + ustr("P1") + ustr("Port 1") + ustr("S1") + ustr("WSL (Hyper-V firewall)")
    dec = decode_event(make_record(VMSWITCH, 232, payload))
    assert dec.values["NicNameLen"] == 74 and dec.values["NicName"] == nic
    assert dec.values["SwitchFNameLen"] == 22 and dec.values["SwitchFName"] == "WSL (Hyper-V firewall)"
    assert dec.message == "NIC eth0 connected to port Port 1 on switch WSL (Hyper-V firewall)"
