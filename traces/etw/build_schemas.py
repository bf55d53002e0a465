"""Generate the bundled schema files (``schemas/*.json``) from the shared manifests folder.

Run once, commit the output; nothing here runs when tracemon reads a trace::

    python -m tracemon.traces.etw.build_schemas /work/shared/manifests

Inputs (see that folder's SOURCES.md): the repnz/etw-providers-docs XML dumps (Win10 18990) for
TCPIP, Winsock-AFD, NDIS, NDIS-PacketCapture, Hyper-V-Netvsc and Ras-NdisWanPacketCapture; the
jdu2600/Windows10EtwEvents TSVs (Win11 26H1) for event versions the XML dumps lack and for PktMon;
the derived VmSwitch field list.  Facts that are not in that folder are written below with their
source: PktMon symbols and value maps from Microsoft's Netmon parser for PktMon, PktMon messages
from ``pktmon format`` output, PktMon drop reasons from microsoft/retina, the VmSwitch symbol
inferences of ETW.md §4.3 against the vmswitch.sys public symbol list.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

from .manifest import load_manifest
from .packets import PKTMON_GUID, VMSWITCH_GUID
from .schema import EventSchema, FieldSpec, ProviderSchema, ValueMap, provider_to_json

OUT_DIR = Path(__file__).resolve().parent / "schemas"

NPL = "microsoft/NetMon_Parsers_for_PacketMon etl_Microsoft-Windows-PktMon-Events.npl @ a4bbb862 (MIT)"
RETINA = "microsoft/retina pkg/utils/metadata_windows.proto enum DropReason @ 95a48c12 (MIT)"
PKTMON_TEXT = ("`pktmon format` output of samples/etl/pktmon_vpn_20210601.etl (Windows 10 19042), "
               "pktmon_vpn_20210601.pktmon-format.utf16.txt")
LEVEL_NAMES = {"LogAlways": 0, "Critical": 1, "Error": 2, "Warning": 3, "Informational": 4, "Verbose": 5}


# -- jdu2600 TSV ---------------------------------------------------------------------------------

_TSV_EVENT = re.compile(r"^(?P<name>[^(]*)\((?P<fields>.*)\)$")


def read_jdu_tsv(path: Path) -> list[dict[str, object]]:
    """Rows of a jdu2600 TSV: id, version, symbol, fields [(type, name)], opcode, keywords, task, level."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            m = _TSV_EVENT.match(row["event(fields)"].strip())
            if m is None:
                raise ValueError(f"{path}: cannot read event {row['event(fields)']!r}")
            fields = []
            for part in m.group("fields").split(","):
                part = part.strip()
                if part:
                    typ, _, name = part.partition(" ")
                    fields.append((typ.strip(), name.strip()))
            rows.append({
                "id": int(row["event_id"]), "version": int(row["version"]), "symbol": m.group("name").strip(),
                "fields": fields, "opcode": row.get("opcode", "").strip(), "keywords": row.get("keywords", "").split(),
                "task": row.get("task", "").strip(), "level": row.get("level", "").strip(),
            })
    return rows


def _length_from(name: str, typ: str, earlier: list[str], known: dict[str, FieldSpec]) -> int | str | None:
    """The length/count reference of a TSV field: the XML's reference for the same field name
    when that field exists earlier here, else an immediately preceding ``<Name>Length``-style
    field for binary, else none (binary then takes the payload up to the fixed fields after it)."""
    old = known.get(name)
    if old is not None and isinstance(old.length, str) and old.length in earlier:
        return old.length
    if old is not None and isinstance(old.length, int):
        return old.length
    if typ == "Binary" and earlier:
        prev = earlier[-1]
        if prev in (f"{name}Length", f"{name}Len", f"{name}Size") or prev.endswith(("Length", "Size", "Len")):
            return prev
    return None


def merge_tsv(schema: ProviderSchema, rows: list[dict[str, object]], source: str) -> int:
    """Add the (id, version) pairs the XML dump lacks; returns how many were added."""
    tasks = {v.lower(): k for k, v in schema.tasks.items()}
    opcodes = {(t, v.lower()): o for (t, o), v in schema.opcodes.items()}
    keywords = {v.lower(): k for k, v in schema.keywords.items()}
    by_id: dict[int, dict[str, FieldSpec]] = {}
    for (eid, _), ev in schema.events.items():
        for s in ev.fields:
            by_id.setdefault(eid, {})[s.name] = s
    added = 0
    for row in rows:
        key = (int(row["id"]), int(row["version"]))  # type: ignore[arg-type]
        if key in schema.events:
            continue
        known = by_id.get(key[0], {})
        specs: list[FieldSpec] = []
        earlier: list[str] = []
        for typ, name in row["fields"]:  # type: ignore[union-attr]
            old = known.get(name)
            length = _length_from(name, typ, earlier, known) if typ in ("Binary", "UnicodeString", "AnsiString") else None
            count = old.count if old is not None and (old.count in earlier or isinstance(old.count, int)) else None
            out = old.out if old is not None and old.type == typ else ""
            fmap = old.map if old is not None and old.type == typ else None
            specs.append(FieldSpec(name, typ, out, fmap, length, count))
            earlier.append(name)
        task = tasks.get(str(row["task"]).lower(), 0)
        opcode = opcodes.get((task, str(row["opcode"]).lower()), opcodes.get((0, str(row["opcode"]).lower()), 0))
        kw = 0
        for k in row["keywords"]:  # type: ignore[union-attr]
            kw |= keywords.get(str(k).lower(), 0)
        schema.events[key] = EventSchema(key[0], key[1], str(row["symbol"]) or None, "dump", task, opcode,
                                         LEVEL_NAMES.get(str(row["level"]), 0), kw, 0, None, tuple(specs),
                                         f"from {source}")
        added += 1
    return added


#: symbols attested outside the dumps: (provider, id) → (symbol, origin, why)
KNOWN_SYMBOLS: dict[tuple[str, int], tuple[str, str, str]] = {
    ("Microsoft-Windows-Winsock-AFD", 2): (
        "AFD_EVENT_BIND", "inferred",
        ("Microsoft's port-exhaustion guide filters Wscore_MicrosoftWindowsWinsockAFD.AFD_EVENT_BIND.Status; "
         "FILTER_LANGUAGE.md §9.3 places it at event 2 (IPv4 bind with Status)")),
}


def ntstatus_fields(p: ProviderSchema) -> None:
    """``Status`` of the kernel network stack's events is an NTSTATUS (shown as hex, with Netmon's
    LENTStatus parts); the dumps keep no output types."""

    def fix(specs: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
        return tuple(replace(f, out="NTSTATUS") if f.name == "Status" and f.type in ("UInt32", "Int32", "HexInt32")
                     and not f.out and not f.map else replace(f, fields=fix(f.fields)) if f.fields else f
                     for f in specs)

    p.events = {k: replace(ev, fields=fix(ev.fields)) for k, ev in p.events.items()}


def from_xml(src: Path, provider: str, tsv: bool = True) -> ProviderSchema:
    xml = src / "repnz-win10-18990" / f"{provider}.xml"
    loaded, warnings = load_manifest(xml)
    if warnings or len(loaded) != 1:
        raise ValueError(f"{xml}: {warnings or 'expected one provider'}")
    p = loaded[0]
    # every symbol in these dumps was synthesised by the dumping tool (SOURCES.md)
    p.events = {k: replace(ev, symbol_origin="dump") for k, ev in p.events.items()}
    p.origin = "bundled"
    p.sources = ("repnz/etw-providers-docs Manifests-Win10-18990/" + xml.name + " @ d5f68e8a",)
    if tsv:
        path = src / "jdu2600-tsv" / f"{provider}.tsv"
        if path.exists():
            n = merge_tsv(p, read_jdu_tsv(path), "jdu2600/Windows10EtwEvents manifest/" + path.name + " @ 84e72611")
            if n:
                p.sources += ("jdu2600/Windows10EtwEvents manifest/" + path.name + " @ 84e72611 (versions the "
                              f"XML dump lacks: {n})",)
    for (name, eid), (sym, origin, why) in KNOWN_SYMBOLS.items():
        if name == p.name:
            for key, ev in list(p.events.items()):
                if ev.id == eid:
                    p.events[key] = replace(ev, symbol=sym, symbol_origin=origin,
                                            note=(ev.note + "; " if ev.note else "") + f"symbol: {why}")
    if provider in ("Microsoft-Windows-TCPIP", "Microsoft-Windows-Winsock-AFD", "Microsoft-Windows-NDIS"):
        ntstatus_fields(p)
    return p


# -- NDIS-PacketCapture ---------------------------------------------------------------------------

DESTINATION = FieldSpec(
    "Destination", "Struct", count="DestinationCount",
    fields=(FieldSpec("PortId", "UInt32"), FieldSpec("NicIndex", "UInt32")),
    note=("element layout inferred: the dumps declare win:Double (8 bytes); decoded as the first two "
          "members of NDIS_SWITCH_PORT_DESTINATION (PortId, NicIndex), which keeps the 8-byte stride"),
)

NDISCAP_MESSAGES = {  # ours: the dumps carry no message strings
    1001: "Packet fragment of %3 bytes, interface %2 (miniport %1)",
    1002: "Receive metadata of %3 bytes for the next packet, interface %2 (miniport %1)",
    1003: "vSwitch packet fragment of %9 bytes from port %3 (%4), NIC %5 (%6), %7 destinations",
    1011: "Capture filter: %1 rules",
    1014: "Interface %2 (miniport %1), medium %3",
    1015: "Interface %2 (miniport %1), medium %3",
}


#: names for the packet events in place of the dumps' synthetic ``task_0`` / ``task_01003`` (ours:
#: what each event's message says it holds; the ids stay the key)
NDISCAP_SYMBOLS = {
    1001: "PacketFragment",
    1002: "ReceiveMetadata",
    1003: "VSwitchPacketFragment",
}


def ndiscap(src: Path) -> ProviderSchema:
    p = from_xml(src, "Microsoft-Windows-NDIS-PacketCapture")
    for key, ev in list(p.events.items()):
        fields = tuple(DESTINATION if f.name == "Destination" and f.type == "Double" else f for f in ev.fields)
        msg = NDISCAP_MESSAGES.get(ev.id)
        notes = [ev.note] if ev.note and not msg else []
        if msg:
            notes.append("message: ours (the dumps carry none)")
        sym = NDISCAP_SYMBOLS.get(ev.id)
        if sym:
            notes.append(f"symbol: ours, named for its message (the dump's {ev.symbol} is synthetic)")
            ev = replace(ev, symbol=sym, symbol_origin="inferred")
        p.events[key] = replace(ev, fields=fields, message=msg, note="; ".join(notes))
    p.notes = (
        "1003 Destination: " + DESTINATION.note,
        ("Direction and medium are keyword bits of each record (ETW.md §3.1): 0x100000000 send, "
         "0x200000000 receive, 0x10000 802.11, 0x200 raw IP."),
    )
    return p


# -- PktMon ----------------------------------------------------------------------------------------

PKTMON_SYMBOLS = {  # NPL case labels (generated from Microsoft-Windows-PktMon-Events.man)
    10: "DriverEntryFailed", 20: "ComponentInfo", 30: "CompPropUint", 40: "CompPropGuid", 50: "CompPropHex32",
    60: "CompPropNdisMedium", 70: "CompPropBinary", 73: "CompPropString", 75: "CompPropEtherType",
    80: "PacketDropCounters", 90: "PacketFlowCounters", 100: "PktFilterIPv4", 110: "PktFilterIPv6",
    120: "NblParsedIpv4", 130: "NblParsedIpv6", 140: "NblParsedDropIpv4", 150: "NblParsedDropIpv6",
    160: "FramePayload", 170: "FrameDropPayload", 180: "PktNblInfo", 190: "PktDropNblInfo",
}

PKTMON_KEYWORDS = {0x1: "Config", 0x2: "Rundown", 0x4: "NblParsed", 0x8: "NblInfo", 0x10: "Payload"}  # NPL

PKTMON_MAPS = {
    # NPL tables; "HTTP Protocol" (10) and "IP Address" (13) as `pktmon format` prints them (2021 build)
    "ComponentType": {1: "NDIS", 2: "Miniport", 3: "Filter", 4: "Protocol", 5: "VmsVmNic", 6: "VmsMiniport",
                      7: "VmsExtMiniport", 8: "VmsProtocolNic", 9: "NetVsc Miniport", 10: "HTTP Protocol"},
    "PropertyType": {1: "IfIndex", 2: "MiniportIfIndex", 3: "LowerIfIndex", 4: "IfGuid", 5: "NdisMedium",
                     6: "PhysAddress", 7: "EtherType", 8: "OptDataPath", 9: "NdisObject", 10: "VMSwitchName",
                     11: "VmsExtIfIndex", 12: "LowestIfIndex", 13: "IP Address"},
    "NdisMedium": {0: "Ethernet", 16: "WiFi", 19: "MBB"},
    "DirectionTag": {0: "None", 1: "In", 2: "Out", 3: "Rx", 4: "Tx", 5: "Ingress", 6: "Egress"},
    "PacketType": {0: "Unknown", 1: "Ethernet", 2: "WiFi", 3: "MBB"},
    "EtherType": {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "VLAN", 0x88CC: "LLDP", 0x88D9: "LLTD"},
    "IPProtocol": {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"},
}
PKTMON_BITMAPS = {"TCPFlags": {1: "FIN", 2: "SYN", 4: "RST", 8: "PSH", 16: "ACK", 32: "URG", 64: "ECE", 128: "CWR"}}

# Drop reasons.  0–38 and 101–104: NPL descriptions (Windows 10 2018–2020 builds); the rest: the
# newer enum in microsoft/retina (names without "Drop_").  Where the two disagree (NPL 201–204 =
# Microport error … VMBus error, retina 201–204 = Pause … ProtocolNotBound and 401–404 = Microport…)
# the newer numbering wins, because current builds write it.
NPL_DROPS = {
    0: "Unspecified", 1: "Invalid Data", 2: "Invalid Packet", 3: "Insufficient resources", 4: "Adapter not ready",
    5: "Media Disconnected", 6: "Not accepted", 7: "Device busy", 8: "Filtered", 9: "Filtered VLAN",
    10: "Unauthorized VLAN", 11: "Unauthorized MAC", 12: "Failed security policy", 13: "Failed pVlan setting",
    14: "QoS drop", 15: "IPSec drop", 16: "Spoofed MAC address is not allowed", 17: "Failed DHCP guard",
    18: "Failed Router Guard", 19: "Bridge is not allowed inside VM", 20: "Virtual Subnet ID does not match",
    21: "Required vSwitch extension is missing", 22: "Creating vSwitch over another vSwitch is not allowed",
    23: "MTU mismatch", 24: "Native forwarding required", 25: "Invalid VLAN format", 26: "Invalid destination MAC",
    27: "Invalid source MAC", 28: "First NB too small", 29: "Windows Network Virtualization error",
    30: "Storm limit exceeded", 31: "ICMP request injected by switch", 32: "Failed to update destination list",
    33: "Destination NIC is disabled", 34: "Packet does not match destination NIC packet filter",
    35: "vSwitch data flow is disabled", 36: "Port isolation setting does not allow untagged traffic",
    37: "Invalid PD queue", 38: "Adapter is in low power state", 101: "Adapter paused",
    102: "Adapter reset in progress", 103: "Send aborted", 104: "Unsupported EtherType",
}
RETINA_DROPS = """
0 Unknown 1 InvalidData 2 InvalidPacket 3 Resources 4 NotReady 5 Disconnected 6 NotAccepted
7 Busy 8 Filtered 9 FilteredVLAN 10 UnauthorizedVLAN 11 UnauthorizedMAC 12 FailedSecurityPolicy
13 FailedPvlanSetting 14 Qos 15 Ipsec 16 MacSpoofing 17 DhcpGuard 18 RouterGuard
19 BridgeReserved 20 VirtualSubnetId 21 RequiredExtensionMissing 22 InvalidConfig 23 MTUMismatch
24 NativeFwdingReq 25 InvalidVlanFormat 26 InvalidDestMac 27 InvalidSourceMac
28 InvalidFirstNBTooSmall 29 Wnv 30 StormLimit 31 InjectedIcmp 32 FailedDestinationListUpdate
33 NicDisabled 34 FailedPacketFilter 35 SwitchDataFlowDisabled 36 FilteredIsolationUntagged
37 InvalidPDQueue 38 LowPower 201 Pause 202 Reset 203 SendAborted 204 ProtocolNotBound
205 Failure 206 InvalidLength 207 HostOutOfMemory 208 FrameTooLong 209 FrameTooShort
210 FrameLengthError 211 CrcError 212 BadFrameChecksum 213 FcsError 214 SymbolError
215 HeadQTimeout 216 StalledDiscard 217 RxQFull 218 PhysLayerError 219 DmaError
220 FirmwareError 221 DecryptionFailed 222 BadSignature 223 CoalescingError 225 VlanSpoofing
226 UnallowedEtherType 227 VportDown 228 SteeringMismatch 401 MicroportError 402 VfNotReady
403 MicroportNotReady 404 VMBusError 601 FL_LoopbackPacket 602 FL_InvalidSnapHeader
603 FL_InvalidEthernetType 604 FL_InvalidPacketLength 605 FL_HeaderNotContiguous
606 FL_InvalidDestinationType 607 FL_InterfaceNotReady 608 FL_ProviderNotReady
609 FL_InvalidLsoInfo 610 FL_InvalidUsoInfo 611 FL_InvalidMedium 612 FL_InvalidArpHeader
613 FL_NoClientInterface 614 FL_TooManyNetBuffers 615 FL_FlsNpiClientDrop 701 ArpGuard
702 ArpLimiter 703 DhcpLimiter 704 BlockBroadcast 705 BlockNonIp 706 ArpFilter 707 Ipv4Guard
708 Ipv6Guard 709 MacGuard 710 BroadcastNoDestinations 711 UnicastNoDestination
712 UnicastPortNotReady 713 SwitchCallbackFailed 714 Icmpv6Limiter 715 Intercept
716 InterceptBlock 717 NDPGuard 718 PortBlocked 719 NicSuspended 901 NL_BadSourceAddress
902 NL_NotLocallyDestined 903 NL_ProtocolUnreachable 904 NL_PortUnreachable 905 NL_BadLength
906 NL_MalformedHeader 907 NL_NoRoute 908 NL_BeyondScope 909 NL_InspectionDrop
910 NL_TooManyDecapsulations 911 NL_AdministrativelyProhibited 912 NL_BadChecksum
913 NL_ReceivePathMax 914 NL_HopLimitExceeded 915 NL_AddressUnreachable 916 NL_RscPacket
917 NL_ForwardPathMax 918 NL_ArbitrationUnhandled 919 NL_InspectionAbsorb
920 NL_DontFragmentMtuExceeded 921 NL_BufferLengthExceeded 922 NL_AddressResolutionTimeout
923 NL_AddressResolutionFailure 924 NL_IpsecFailure 925 NL_ExtensionHeadersFailure
926 NL_IpsnpiClientDrop 927 NL_UnsupportedOffload 928 NL_RoutingFailure
929 NL_AncillaryDataFailure 930 NL_RawDataFailure 931 NL_SessionStateFailure
932 NL_IpsnpiModifiedButNotForwarded 933 NL_IpsnpiNoNextHop 934 NL_IpsnpiNoCompartment
935 NL_IpsnpiNoInterface 936 NL_IpsnpiNoSubInterface 937 NL_IpsnpiInterfaceDisabled
938 NL_IpsnpiSegmentationFailed 939 NL_IpsnpiNoEthernetHeader 940 NL_IpsnpiUnexpectedFragment
941 NL_IpsnpiUnsupportedInterfaceType 942 NL_IpsnpiInvalidLsoInfo 943 NL_IpsnpiInvalidUsoInfo
944 NL_InternalError 945 NL_AdministrativelyConfigured 946 NL_BadOption
947 NL_LoopbackDisallowed 948 NL_SmallerScope 949 NL_QueueFull 950 NL_InterfaceDisabled
951 NL_IcmpGeneric 952 NL_IcmpTruncatedHeader 953 NL_IcmpInvalidChecksum 954 NL_IcmpInspection
955 NL_IcmpNeighborDiscoveryLoopback 956 NL_IcmpUnknownType 957 NL_IcmpTruncatedIpHeader
958 NL_IcmpOversizedIpHeader 959 NL_IcmpNoHandler 960 NL_IcmpRespondingToError
961 NL_IcmpInvalidSource 962 NL_IcmpInterfaceRateLimit 963 NL_IcmpPathRateLimit
964 NL_IcmpNoRoute 965 NL_IcmpMatchingRequestNotFound 966 NL_IcmpBufferTooSmall
967 NL_IcmpAncillaryDataQuery 968 NL_IcmpIncorrectHopLimit 969 NL_IcmpUnknownCode
970 NL_IcmpSourceNotLinkLocal 971 NL_IcmpTruncatedNdHeader 972 NL_IcmpInvalidNdOptSourceLinkAddr
973 NL_IcmpInvalidNdOptMtu 974 NL_IcmpInvalidNdOptPrefixInformation
975 NL_IcmpInvalidNdOptRouteInformation 976 NL_IcmpInvalidNdOptRdnss
977 NL_IcmpInvalidNdOptDnssl 978 NL_IcmpPacketParsingFailure 979 NL_IcmpDisallowed
980 NL_IcmpInvalidRouterAdvertisement 981 NL_IcmpSourceFromDifferentLink
982 NL_IcmpInvalidRedirectDestinationOrTarget 983 NL_IcmpInvalidNdTarget
984 NL_IcmpNaMulticastAndSolicited 985 NL_IcmpNdLinkLayerAddressIsLocal
986 NL_IcmpDuplicateEchoRequest 987 NL_IcmpNotAPotentialRouter 988 NL_IcmpInvalidMldQuery
989 NL_IcmpInvalidMldReport 990 NL_IcmpLocallySourcedMldReport 991 NL_IcmpNotLocallyDestined
992 NL_ArpInvalidSource 993 NL_ArpInvalidTarget 994 NL_ArpDlSourceIsLocal
995 NL_ArpNotLocallyDestined 996 NL_NlClientDiscard 997 NL_IpsnpiUroSegmentSizeExceedsMtu
998 NL_IcmpFragmentedPacket 999 NL_FirstFragmentIncomplete 1000 NL_SourceViolation
1001 NL_IcmpJumbogram 1002 NL_SwUsoFailure 1200 INET_SourceUnspecified
1201 INET_DestinationMulticast 1202 INET_HeaderInvalid 1203 INET_ChecksumInvalid
1204 INET_EndpointNotFound 1205 INET_ConnectedPath 1206 INET_SessionState
1207 INET_ReceiveInspection 1208 INET_AckInvalid 1209 INET_ExpectedSyn 1210 INET_Rst
1211 INET_SynRcvdSyn 1212 INET_SimultaneousConnect 1213 INET_PawsFailed 1214 INET_LandAttack
1215 INET_MissedReset 1216 INET_OutsideWindow 1217 INET_DuplicateSegment 1218 INET_ClosedWindow
1219 INET_TcbRemoved 1220 INET_FinWait2 1221 INET_ReassemblyConflict 1222 INET_FinReceived
1223 INET_ListenerInvalidFlags 1224 INET_TcbNotInTcbTable
1225 INET_TimeWaitTcbReceivedRstOutsideWindow 1226 INET_TimeWaitTcbSynAndOtherFlags
1227 INET_TimeWaitTcb 1228 INET_SynAckWithFastopenCookieRequest 1229 INET_PauseAccept
1230 INET_SynAttack 1231 INET_AcceptInspection 1232 INET_AcceptRedirection
1301 SlbMux_ParsingFailure 1302 SlbMux_FirstFragmentMiss
1303 SlbMux_ICMPErrorPayloadValidationFailure 1304 SlbMux_ICMPErrorPacketMatchNoSession
1305 SlbMux_ExternalHairpinNexthopLookupFailure 1306 SlbMux_NoMatchingStaticMapping
1307 SlbMux_NexthopReferenceFailure 1308 SlbMux_CloningFailure 1309 SlbMux_TranslationFailure
1310 SlbMux_HopLimitExceeded 1311 SlbMux_PacketBiggerThanMTU
1312 SlbMux_UnexpectedRouteLookupFailure 1313 SlbMux_NoRoute 1314 SlbMux_SessionCreationFailure
1315 SlbMux_NexthopNotOverExternalInterface 1316 SlbMux_NexthopExternalInterfaceMissNATInstance
1317 SlbMux_NATItselfCantBeInternalNexthop 1318 SlbMux_PacketRoutableInItsArrivalCompartment
1319 SlbMux_PacketTransportProtocolNotSupported 1320 SlbMux_PacketIsDestinedLocally
1321 SlbMux_PacketDestinationIPandPortNotSubjectToNAT 1322 SlbMux_MuxReject
1323 SlbMux_DipLookupFailure 1324 SlbMux_MuxEncapsulationFailure
1325 SlbMux_InvalidDiagPacketEncapType 1326 SlbMux_DiagPacketIsRedirect
1327 SlbMux_UnableToHandleRedirect 1401 Ipsec_BadSpi 1402 Ipsec_SALifetimeExpired
1403 Ipsec_WrongSA 1404 Ipsec_ReplayCheckFailed 1405 Ipsec_InvalidPacket
1406 Ipsec_IntegrityCheckFailed 1407 Ipsec_ClearTextDrop 1408 Ipsec_AuthFirewallDrop
1409 Ipsec_ThrottleDrop 1410 Ipsec_Dosp_Block 1411 Ipsec_Dosp_ReceivedMulticast
1412 Ipsec_Dosp_InvalidPacket 1413 Ipsec_Dosp_StateLookupFailed 1414 Ipsec_Dosp_MaxEntries
1415 Ipsec_Dosp_KeymodNotAllowed 1416 Ipsec_Dosp_MaxPerIpRateLimitQueues 1417 Ipsec_NoMemory
1418 Ipsec_Unsuccessful 1501 NetCx_NetPacketLayoutParseFailure
1502 NetCx_SoftwareChecksumFailure 1503 NetCx_NicQueueStop 1504 NetCx_InvalidNetBufferLength
1505 NetCx_LSOFailure 1506 NetCx_USOFailure 1507 NetCx_BufferBounceFailureAndPacketIgnore
3000 Http_Begin 3001 Http_UlError_Begin 3002 Http_UlError 3003 Http_UlErrorVerb
3004 Http_UlErrorUrl 3005 Http_UlErrorHeader 3006 Http_UlErrorHost 3007 Http_UlErrorNum
3008 Http_UlErrorFieldLength 3009 Http_UlErrorRequestLength 3010 Http_UlErrorUnauthorized
3011 Http_UlErrorForbiddenUrl 3012 Http_UlErrorNotFound 3013 Http_UlErrorContentLength
3014 Http_UlErrorPreconditionFailed 3015 Http_UlErrorEntityTooLarge 3016 Http_UlErrorUrlLength
3017 Http_UlErrorRangeNotSatisfiable 3018 Http_UlErrorMisdirectedRequest
3019 Http_UlErrorInternalServer 3020 Http_UlErrorNotImplemented 3021 Http_UlErrorUnavailable
3022 Http_UlErrorConnectionLimit 3023 Http_UlErrorRapidFailProtection
3024 Http_UlErrorRequestQueueFull 3025 Http_UlErrorDisabledByAdmin
3026 Http_UlErrorDisabledByApp 3027 Http_UlErrorJobObjectFired 3028 Http_UlErrorAppPoolBusy
3029 Http_UlErrorVersion 3030 Http_UlError_End 3400 Http_UxDuoFaultBegin
3401 Http_UxDuoFaultUserAbort 3402 Http_UxDuoFaultCollection
3403 Http_UxDuoFaultClientResetStream 3404 Http_UxDuoFaultMethodNotFound
3405 Http_UxDuoFaultSchemeMismatch 3406 Http_UxDuoFaultSchemeNotFound
3407 Http_UxDuoFaultDataAfterEnd 3408 Http_UxDuoFaultPathNotFound
3409 Http_UxDuoFaultHalfClosedLocal 3410 Http_UxDuoFaultIncompatibleAuth
3411 Http_UxDuoFaultDeprecated3 3412 Http_UxDuoFaultClientCertBlocked
3413 Http_UxDuoFaultHeaderNameEmpty 3414 Http_UxDuoFaultIllegalSend
3415 Http_UxDuoFaultPushUpperAttach 3416 Http_UxDuoFaultStreamUpperAttach
3417 Http_UxDuoFaultActiveStreamLimit 3418 Http_UxDuoFaultAuthorityNotFound
3419 Http_UxDuoFaultUnexpectedTail 3420 Http_UxDuoFaultTruncated
3421 Http_UxDuoFaultResponseHold 3422 Http_UxDuoFaultRequestChunked
3423 Http_UxDuoFaultRequestContentLength 3424 Http_UxDuoFaultResponseChunked
3425 Http_UxDuoFaultResponseContentLength 3426 Http_UxDuoFaultResponseTransferEncoding
3427 Http_UxDuoFaultResponseLine 3428 Http_UxDuoFaultResponseHeader 3429 Http_UxDuoFaultConnect
3430 Http_UxDuoFaultChunkStart 3431 Http_UxDuoFaultChunkLength 3432 Http_UxDuoFaultChunkStop
3433 Http_UxDuoFaultHeadersAfterTrailers 3434 Http_UxDuoFaultHeadersAfterEnd
3435 Http_UxDuoFaultEndlessTrailer 3436 Http_UxDuoFaultTransferEncoding
3437 Http_UxDuoFaultMultipleTransferCodings 3438 Http_UxDuoFaultPushBody
3439 Http_UxDuoFaultStreamAbandoned 3440 Http_UxDuoFaultMalformedHost
3441 Http_UxDuoFaultDecompressionOverflow 3442 Http_UxDuoFaultIllegalHeaderName
3443 Http_UxDuoFaultIllegalHeaderValue 3444 Http_UxDuoFaultConnHeaderDisallowed
3445 Http_UxDuoFaultConnHeaderMalformed 3446 Http_UxDuoFaultCookieReassembly
3447 Http_UxDuoFaultStatusHeader 3448 Http_UxDuoFaultSchemeDisallowed
3449 Http_UxDuoFaultPathDisallowed 3450 Http_UxDuoFaultPushHost
3451 Http_UxDuoFaultGoawayReceived 3452 Http_UxDuoFaultAbortLegacyApp
3453 Http_UxDuoFaultUpgradeHeaderDisallowed 3454 Http_UxDuoFaultResponseUpgradeHeader
3455 Http_UxDuoFaultKeepAliveHeaderDisallowed 3456 Http_UxDuoFaultResponseKeepAliveHeader
3457 Http_UxDuoFaultProxyConnHeaderDisallowed 3458 Http_UxDuoFaultResponseProxyConnHeader
3459 Http_UxDuoFaultConnectionGoingAway 3460 Http_UxDuoFaultTransferEncodingDisallowed
3461 Http_UxDuoFaultContentLengthDisallowed 3462 Http_UxDuoFaultTrailerDisallowed
3463 Http_UxDuoFaultEnd 3600 Http_ReceiveSuppressed 3800 Http_Generic 3801 Http_InvalidParameter
3802 Http_InsufficientResources 3803 Http_InvalidHandle 3804 Http_NotSupported
3805 Http_BadNetworkPath 3806 Http_InternalError 3807 Http_NoSuchPackage
3808 Http_PrivilegeNotHeld 3809 Http_CannotImpersonate 3810 Http_LogonFailure
3811 Http_NoSuchLogonSession 3812 Http_AccessDenied 3813 Http_NoLogonServers
3814 Http_TimeDifferenceAtDc 4000 Http_End
"""


def drop_reasons() -> dict[int, str]:
    toks = RETINA_DROPS.split()
    newer = {int(toks[i]): toks[i + 1] for i in range(0, len(toks), 2)}
    out = dict(newer)
    for k, v in NPL_DROPS.items():
        if k <= 38 or k not in newer:  # same numbering below 39 in both; NPL only for 101–104
            out[k] = v
    return dict(sorted(out.items()))


# field name → (out, map, length) for PktMon; the TSV has neither lengths nor output types
PKTMON_FIELD_FACTS: dict[str, tuple[str, str | None, int | str | None]] = {
    "DirTag": ("", "DirectionTag", None), "DirTagIn": ("", "DirectionTag", None),
    "DirTagOut": ("", "DirectionTag", None), "PacketType": ("", "PacketType", None),
    "DropReason": ("", "DropReason", None), "EtherType": ("", "EtherType", None),
    "Protocol": ("", "IPProtocol", None), "TCPFlags": ("", "TCPFlags", None),
    "MacAddress1": ("MAC", None, 6), "MacAddress2": ("MAC", None, 6),
    "DestinationMAC": ("MAC", None, 6), "SourceMAC": ("MAC", None, 6),
    "Payload": ("", None, "LoggedPayloadSize"), "Status": ("NTSTATUS", None, None),
}

# messages: %n numbering of the TSV template.  Source per event in PKTMON_MESSAGE_SOURCE.
PKTMON_MESSAGES = {
    10: "PktMon driver failed to load. Error: %1.",
    20: "Component %1, Type %2, Name %3, %4",
    30: "Property: Component %1, %2 = %3",
    40: "Property: Component %1, %2 = %3",
    50: "Property: Component %1, %2 = %3",
    60: "Property: Component %1, %2 = %3",
    65: "Property: Component %1, %2 = %3",
    66: "Property: Component %1, %2 = %3",
    70: "Property: Component %1, %2 = %4",
    73: "Property: Component %1, %2 = %3",
    75: "Property: Component %1, %2 = %3",
    80: ("Drop Counters: Component %1, Direction In = %2, Packets In %3, Bytes In %4, Direction Out = %5, "
         "Packets Out %6, Bytes Out %7"),
    90: ("Flow Counters: Component %1, Edge %2, Edge Id %3, Direction In = %4, Packets In %5, Bytes In %6, "
         "Direction Out = %7, Packets Out %8, Bytes Out %9"),
    100: ("Packet Filter %1, Name %2, MAC-1 %3, MAC-2 %4, EtherType %5, VlanId %6, IP-1 %7, IP-2 %8, Protocol %9, "
          "Port-1 %10, Port-2 %11, TCPFlags %12"),
    110: ("Packet Filter %1, Name %2, MAC-1 %3, MAC-2 %4, EtherType %5, VlanId %6, IP-1 %7, IP-2 %8, Protocol %9, "
          "Port-1 %10, Port-2 %11, TCPFlags %12"),
    120: ("MAC Dest %1, MAC Src %2, EtherType %3, VlanId %4, IP Dest %5, IP Src %6, Protocol %7, Port Dest %8, "
          "Port Src %9, TCPFlags %10, PktGroupId %11, PktCount %12, Appearance %13, Direction %14, Type %15, "
          "Component %16, Edge %17, Filter %18"),
    140: ("Drop: MAC Dest %1, MAC Src %2, EtherType %3, VlanId %4, IP Dest %5, IP Src %6, Protocol %7, "
          "Port Dest %8, Port Src %9, TCPFlags %10, PktGroupId %11, PktCount %12, Appearance %13, Direction %14, "
          "Type %15, Component %16, Edge %17, Filter %18, DropReason %19, DropLocation %20"),
    160: ("PktGroupId %1, PktNumber %2, Appearance %3, Direction %4, Type %5, Component %6, Edge %7, Filter %8, "
          "OriginalSize %11, LoggedSize %12"),
    170: ("Drop: PktGroupId %1, PktNumber %2, Appearance %3, Direction %4, Type %5, Component %6, Edge %7, "
          "Filter %8, DropReason %9, DropLocation %10, OriginalSize %11, LoggedSize %12"),
}
PKTMON_MESSAGES[130] = PKTMON_MESSAGES[120]
PKTMON_MESSAGES[150] = PKTMON_MESSAGES[140]
PKTMON_MESSAGES[270] = PKTMON_MESSAGES[20]
PKTMON_MESSAGES[280] = PKTMON_MESSAGES[20]
PKTMON_FROM_TEXT = {20, 30, 40, 60, 65, 66, 70, 75, 80, 90, 160}  # seen in the `pktmon format` output


def pktmon(src: Path) -> ProviderSchema:
    path = src / "jdu2600-tsv" / "Microsoft-Windows-PktMon.tsv"
    rows = read_jdu_tsv(path)
    p = ProviderSchema("Microsoft-Windows-PktMon", PKTMON_GUID, prefix="PktMon")
    p.keywords = dict(PKTMON_KEYWORDS)
    p.maps = {name: ValueMap(name, False, entries) for name, entries in PKTMON_MAPS.items()}
    p.maps.update({name: ValueMap(name, True, entries) for name, entries in PKTMON_BITMAPS.items()})
    p.maps["DropReason"] = ValueMap("DropReason", False, drop_reasons())
    kwmask = {v.lower(): k for k, v in p.keywords.items()}
    for row in rows:
        eid = int(row["id"])  # type: ignore[arg-type]
        specs: list[FieldSpec] = []
        for typ, name in row["fields"]:  # type: ignore[union-attr]
            out, fmap, length = PKTMON_FIELD_FACTS.get(name, ("", None, None))
            if name == "Type":
                fmap = "ComponentType" if eid in (20, 270, 280) else ("PropertyType" if eid < 100 else None)
            if name == "Value" and eid == 60:
                fmap = "NdisMedium"
            if name == "Value" and eid == 50:
                out = "Hex"
            if name == "Value" and eid == 70:
                length = "Size"
            if typ == "UInt32" and name.endswith(("IP", "IpAddress", "IpAddress1", "IpAddress2")):
                out = "IPv4"  # NPL: [DataFieldByteOrder = BigEndian] IPv4Address
            if typ == "Binary" and (name.endswith(("IP", "IpAddress1", "IpAddress2")) or (name == "IpAddress")):
                out, length = "IPv6", 16 if name != "IpAddress" else None
            if typ != "Binary":
                length = None
            specs.append(FieldSpec(name, typ, out, fmap, length))
        sym = PKTMON_SYMBOLS.get(eid)
        kw = 0
        for k in row["keywords"]:  # type: ignore[union-attr]
            kw |= kwmask.get(str(k).lower(), 0)
        msg = PKTMON_MESSAGES.get(eid)
        note = []
        if sym is None:
            note.append("symbol: synthesised by the TSV dump")
        if msg is not None:
            note.append("message: " + ("`pktmon format` output" if eid in PKTMON_FROM_TEXT else "NPL FormatString"))
        p.events[(eid, int(row["version"]))] = EventSchema(  # type: ignore[arg-type]
            eid, int(row["version"]), sym or str(row["symbol"]), "npl" if sym else "dump",  # type: ignore[arg-type]
            0, 0, LEVEL_NAMES.get(str(row["level"]), 0), kw, 0, msg, tuple(specs), "; ".join(note))
    p.sources = ("jdu2600/Windows10EtwEvents manifest/Microsoft-Windows-PktMon.tsv @ 84e72611 (events, fields)",
                 NPL + " (symbols, value maps, MAC/IP layouts, keyword bits)", PKTMON_TEXT + " (messages, map values)",
                 RETINA + " (drop reasons above 38)")
    p.notes = (
        ("Drop reasons 0–38 and 101–104: NPL texts; others: retina's enum names. NPL numbers 201–204 "
         "(Microport error … VMBus error) belong to older builds; current builds number them 401–404."),
        ("Messages for events the `pktmon format` sample does not show follow the NPL FormatString "
         "texts, which differ slightly from the manifest's."),
    )
    return p


# -- Hyper-V VmSwitch --------------------------------------------------------------------------------

VMSWITCH_POINTERS = {"BufferAddress", "OffloadHandle", "TeamNic", "Aggregator", "OldAggregator", "NewAggregator",
                     "Receiver"}
VMSWITCH_STATUS = {"Status", "NdisStatus", "OidFailureStatus"}

# id → (symbol, why).  Every one is an inference (no public manifest maps ids to symbols); the names
# are vmswitch.sys EVENT_DESCRIPTOR globals from its public symbol list (ETW.md §4.2).
VMSWITCH_SYMBOLS: dict[int, tuple[str, str]] = {
    54: ("VM_NBL_INCOMING_DROP", "ETW.md §4.3: (Nic, Switch, DropReason), first of the drop pair"),
    55: ("VM_NBL_OUTGOING_DROP", "ETW.md §4.3: (Nic, Switch, DropReason), second of the drop pair"),
    56: ("VM_NBL_RECEIVE", "ETW.md §4.3: (Nic, Switch, BufferAddress) before ROUTE in datapath order"),
    57: ("VM_NBL_ROUTE", "ETW.md §4.3: the only (SrcNic, DestNic, Switch, BufferAddress) event"),
    58: ("VM_NBL_DELIVER", "ETW.md §4.3: (Nic, Switch, BufferAddress) after ROUTE in datapath order"),
    59: ("VM_NBL_EXTENSION_DROP", "ETW.md §4.3: extension name with source/destination NIC"),
    240: ("VM_PD_BUFFER_RECEIVE", "ETW.md §4.3: repeats the 56 shape"),
    241: ("VM_PD_BUFFER_DELIVER", "ETW.md §4.3: repeats the 58 shape"),
    242: ("VM_PD_BUFFER_ROUTE", "ETW.md §4.3: repeats the 57 shape"),
    67: ("VM_PORT_CREATED", ("first port-lifecycle event; decompiled code passes VM_PORT_CREATED to "
                             "VmsEtwTracePortSuccess with (port name, friendly name, flags, owner service)")),
    232: ("VM_NIC_CONNECT_SUCCESS", "Event Viewer text of 232 reports a NIC connected to a port on a switch"),
    49: ("VM_FLOW_CONFORMANCE", "the only event with a FlowConformanceEvent field"),
    50: ("VM_FLOW_SEND_QUEUE", "the only event with a FlowSendQueueEvent field"),
    53: ("VM_QOS_PACKET_DROP", "only a DropReason, right after the QoS/flow events 47–52"),
    37: ("VM_IPSEC_OFFLOAD_INBOUND_DROPPED", "the only event with IpsecOffloadInboundDropReason"),
    40: ("VM_IPSEC_SA_OFFLOAD_FAILURE", "the only event with IpsecSaOffloadFailureReason"),
    107: ("VM_SWITCH_OID_FORWARD", "(DataOidTarget, Oid, Switch)"),
    108: ("VM_SWITCH_OID_FORWARD_RESULT", "107 plus Status"),
    109: ("VM_SWITCH_OID_NIC_REQ_FORWARD", "OID forwarded between a source and a destination NIC"),
    111: ("VM_SWITCH_STATUS_FORWARD", "(StatusTarget, Oid, Switch)"),
    112: ("VM_SWITCH_STATUS_NIC_STATUS_FORWARD", "111 with source and destination NIC"),
    123: ("VM_VMQ_CAPS", "the only event with VMQ capability fields"),
    267: ("VM_SWITCH_SERVICING_IOCTL", "the only event with IoctlCode and ElapsedTime"),
    268: ("VM_SWITCH_SERVICING_CONNECTIVITY", "the only event with ConnectivityState"),
}

# our messages ({Field} → %n at build time)
VMSWITCH_MESSAGES: dict[int, str] = {
    54: "NBL from NIC {NicFName} dropped entering switch {SwitchFName}: {DropReason}",
    55: "NBL to NIC {NicFName} dropped leaving switch {SwitchFName}: {DropReason}",
    56: "NBL {BufferAddress} received from NIC {NicFName} on switch {SwitchFName}",
    57: "NBL {BufferAddress} routed from NIC {SrcNicFName} to NIC {DestNicFName} on switch {SwitchFName}",
    58: "NBL {BufferAddress} delivered to NIC {NicFName} on switch {SwitchFName}",
    59: "NBL from NIC {SrcNicFName} to NIC {DestNicFName} dropped by extension {ExtensionName} on switch {SwitchFName}",
    60: "NBL from NIC {SrcNicFName} dropped by extension {ExtensionFriendlyName} on switch {SwitchFName}: {Reason}",
    240: "PacketDirect buffer {BufferAddress} received from NIC {NicFName} on switch {SwitchFName}",
    241: "PacketDirect buffer {BufferAddress} delivered to NIC {NicFName} on switch {SwitchFName}",
    242: ("PacketDirect buffer {BufferAddress} routed from NIC {SrcNicFName} to NIC {DestNicFName} "
          "on switch {SwitchFName}"),
    67: "Port {PortFName} created on switch {SwitchFName}",
    232: "NIC {NicFName} connected to port {PortFName} on switch {SwitchFName}",
    53: "Packet dropped by QoS: {DropReason}",
}
# roles ETW.md §4.3 gives (summary prefix for events without a message of their own)
VMSWITCH_ROLES: dict[str, tuple[int, ...]] = {
    "Switch lifecycle": (9, 42, 43, 62, 64, 66),
    "Port lifecycle": (69, 71, 264),
    "Switch operation failed": (10, 11, 14, 63, 65),
    "Port operation failed": (12, 15, 68, 70, 72, 73, 74, 75),
    "NIC operation failed": (13,),
    "NIC connect/disconnect": (17, 18, 32, 35, 275),
    "Property add/update/delete": (78, 79, 80, 81, 86, 92, 93, 103),
    "Port security settings": (88, 89),
}
_SUMMARY_PARTS = (("VMName", "VM"), ("VMId", "id"), ("NicFName", "NIC"), ("SrcNicFName", "from NIC"), ("DestNicFName", "to NIC"),
                  ("PortFName", "port"), ("SwitchFName", "switch"), ("SwitchFriendlyName", "switch"),
                  ("ExtensionName", "extension"), ("Status", "status"), ("FailReason", "reason"))


#: single events named for what their message shows (no role shared with other ids)
VMSWITCH_NAMED: dict[int, str] = {102: "VM_NAME"}


def role_symbol(eid: int, roles: dict[int, str]) -> str:
    """``Switch lifecycle`` event 9 → ``VM_SWITCH_LIFECYCLE_9``: several ids share a role, so the id
    keeps each name unique (a filter names one event)."""
    if eid in VMSWITCH_NAMED:
        return VMSWITCH_NAMED[eid]
    words = re.sub(r"[^A-Za-z0-9]+", "_", roles[eid]).strip("_").upper()
    return f"VM_{words}_{eid}"


def _numbered(template: str, names: list[str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return f"%{names.index(m.group(1)) + 1}"
    return re.sub(r"\{(\w+)\}", sub, template)


def read_vmswitch_tsv(path: Path) -> list[tuple[int, int, list[FieldSpec]]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("#", "event_id")):
            continue
        eid, ver, fields = line.split("\t")
        specs = []
        for part in fields.split(", "):
            m = re.fullmatch(r"(\w+):(win:[\w|:]+)(?:\[length=(\w+)\])?", part.strip())
            if m is None:
                raise ValueError(f"{path}: cannot read field {part!r} of event {eid}")
            name, types, length = m.group(1), m.group(2).split("|"), m.group(3)
            types = [t.split(":", 1)[1] for t in types]
            note = ""
            if types == ["UInt64", "Pointer"]:
                typ = "Pointer" if name in VMSWITCH_POINTERS else "UInt64"
                note = "UInt64 or Pointer in the source; chosen by name"
            elif types == ["Binary", "UnicodeString"]:
                typ = "Binary"
                note = "Binary or UnicodeString in the source; read as bytes"
            else:
                typ = types[0]
            # DropReason: the vSwitch reports NTSTATUS codes (0xC000009A …); the small values PktMon
            # shares keep their names through the map
            out_t = "NTSTATUS" if name in VMSWITCH_STATUS | {"DropReason"} and typ in ("UInt32", "Int32") else ""
            if name == "MacAddress":
                out_t = "MAC"
            fmap = "DropReason" if name == "DropReason" else None
            specs.append(FieldSpec(name, typ, out_t, fmap, length, None, (), note))
        out.append((int(eid), int(ver), specs))
    return out


def vmswitch(src: Path) -> ProviderSchema:
    path = src / "derived" / "Microsoft-Windows-Hyper-V-VmSwitch.fields.tsv"
    p = ProviderSchema("Microsoft-Windows-Hyper-V-VmSwitch", VMSWITCH_GUID, prefix="VMSWITCH")
    roles = {eid: role for role, ids in VMSWITCH_ROLES.items() for eid in ids}
    # the vSwitch drop reasons PktMon reports for vmswitch components (inferred to be the same enum)
    p.maps["DropReason"] = ValueMap("DropReason", False, {k: v for k, v in NPL_DROPS.items() if k <= 38})
    for eid, ver, specs in read_vmswitch_tsv(path):
        names = [s.name for s in specs]
        sym = VMSWITCH_SYMBOLS.get(eid)
        msg = VMSWITCH_MESSAGES.get(eid)
        notes = []
        if sym:
            notes.append(f"symbol inferred: {sym[1]}")
        elif eid in roles or eid in VMSWITCH_NAMED:
            sym = (role_symbol(eid, roles), "")
            notes.append("symbol: ours, named for the role its message gives (ETW.md §4.3); the host's "
                         "manifest or a symbol map replaces it")
        if msg is None:
            parts = [f"{label} {{{n}}}" for n, label in _SUMMARY_PARTS if n in names]
            role = roles.get(eid)
            if parts or role:
                msg = (f"{role}: " if role else "") + ", ".join(parts)
        if msg is not None:
            msg = _numbered(msg, names)
            notes.append("message: ours (no public manifest has VmSwitch messages)")
        p.events[(eid, ver)] = EventSchema(eid, ver, sym[0] if sym else None, "inferred" if sym else "",
                                           fields=tuple(specs), message=msg, note="; ".join(notes))
    p.sources = (
        "derived/Microsoft-Windows-Hyper-V-VmSwitch.fields.tsv (from airbus-cert/etl-parser @ 76b7c046, Apache-2.0)",
        "symbols: ETW.md §4.2–4.3 and the vmswitch.sys public symbol list",
    )
    p.notes = (
        ("No public manifest maps VmSwitch event ids to symbols: every symbol here is an inference "
         "(see each event's note). Load the host's manifest (--manifest) and a symbol map "
         "(--symbols) to replace them."),
        "XxxName fields are counted UTF-16 strings whose XxxNameLen counts characters.",
        "DropReason names: inferred to be the vSwitch drop reasons PktMon reports (0–38).",
    )
    return p


# -- main --------------------------------------------------------------------------------------------

def build(src: Path, out: Path = OUT_DIR) -> list[ProviderSchema]:
    providers = [
        vmswitch(src),
        ndiscap(src),
        pktmon(src),
        from_xml(src, "Microsoft-Windows-TCPIP"),
        from_xml(src, "Microsoft-Windows-Winsock-AFD"),
        from_xml(src, "Microsoft-Windows-NDIS"),
        from_xml(src, "Microsoft-Windows-Hyper-V-Netvsc"),
        from_xml(src, "Microsoft-Windows-Ras-NdisWanPacketCapture"),
    ]
    wscore = providers[4]
    wscore.prefix = "Wscore"  # FILTER_LANGUAGE.md §9.2
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for p in providers:
        fname = f"{p.name}.json"
        text = json.dumps(provider_to_json(p), ensure_ascii=False, indent=0, separators=(",", ":"))
        (out / fname).write_text(text + "\n", encoding="utf-8")
        index.append({"guid": str(p.guid), "name": p.name, "file": fname, **({"prefix": p.prefix} if p.prefix else {}),
                      "events": len(p.events)})
    (out / "index.json").write_text(json.dumps({"format": 1, "providers": index}, indent=1) + "\n", encoding="utf-8")
    return providers


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m tracemon.traces.etw.build_schemas <shared/manifests folder>", file=sys.stderr)
        return 2
    for p in build(Path(args[0])):
        print(f"{p.name:45} {len(p.events):4} events  {len(p.maps):3} maps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
