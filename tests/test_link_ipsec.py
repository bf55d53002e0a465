"""802.1X (EAPOL/EAP), LLDP and IPsec (ESP, AH, IKE, NAT-T) against tshark on hand-built frames (no
sample carries them), the Description column, filters, and the vectorised index classification.

tshark's values are the expected results; where the two differ on purpose the test says why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import test_classify
from conftest import require_tshark
from link_frames import eapol_frames, ipsec_frames, lldp_frames, wifi_eapol_frames
from test_dissect_robustness import run
from test_dissect_synthetic import write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import Frame, open_trace
from tracemon.traces.dissect import dissect

SETS: dict[str, tuple[int, Callable[[], list[bytes]]]] = {
    "eapol": (1, eapol_frames), "wifi": (105, wifi_eapol_frames), "lldp": (1, lldp_frames), "ipsec": (1, ipsec_frames)}


def _int(text: str) -> int:
    return int(text.split(",")[0], 0)


def _hexint(text: str) -> int:
    return int(text, 16)


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _mac(text: str) -> str:
    return text.replace(":", "-").upper()


#: tshark field → (our field, how tshark's text becomes our value); a multi-valued tshark field
#: (isakmp.nextpayload lists every payload) is compared by its first value, which is the header's
FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "eapol.version": ("EAPOL.Version", _int), "eapol.type": ("EAPOL.Type", _int), "eapol.len": ("EAPOL.Length", _int),
    "eapol.keydes.type": ("EAPOL.Key.DescriptorType", _int),
    "eapol.keydes.key_len": ("EAPOL.Key.KeyLength", _int),
    "eapol.keydes.replay_counter": ("EAPOL.Key.ReplayCounter", _int),
    "eapol.keydes.key_index": ("EAPOL.Key.KeyIndex", _int),
    "wlan_rsna_eapol.keydes.key_info": ("EAPOL.Key.KeyInformation", _int),
    "wlan_rsna_eapol.keydes.key_info.install": ("EAPOL.Key.KeyInformation.Install", _int),
    "wlan_rsna_eapol.keydes.key_info.key_ack": ("EAPOL.Key.KeyInformation.KeyAck", _int),
    "wlan_rsna_eapol.keydes.key_info.key_mic": ("EAPOL.Key.KeyInformation.KeyMIC", _int),
    "wlan_rsna_eapol.keydes.key_info.secure": ("EAPOL.Key.KeyInformation.Secure", _int),
    "wlan_rsna_eapol.keydes.key_info.key_type": ("EAPOL.Key.KeyInformation.Pairwise", _int),
    "wlan_rsna_eapol.keydes.nonce": ("EAPOL.Key.Nonce", _bytes),
    "wlan_rsna_eapol.keydes.mic": ("EAPOL.Key.MIC", _bytes),
    "wlan_rsna_eapol.keydes.data_len": ("EAPOL.Key.KeyDataLength", _int),
    "wlan_rsna_eapol.keydes.msgnr": ("EAPOL.Key.Message", _int),
    "eap.code": ("EAP.Code", _int), "eap.id": ("EAP.Identifier", _int), "eap.len": ("EAP.Length", _int),
    "eap.type": ("EAP.Type", _int), "eap.identity": ("EAP.Identity", str),
    # tshark shows the first type a NAK asks for; RFC 3748 allows a list, which we keep (compared: the first)
    "eap.desired_type": ("EAP.DesiredType", _int),
    "eap.tls.flags": ("EAP.TLS.Flags", _int), "eap.tls.len": ("EAP.TLS.Length", _int),
    "eap.tls.flags.start": ("EAP.TLS.Flags.Start", _int),
    "eap.tls.flags.more_fragments": ("EAP.TLS.Flags.MoreFragments", _int),
    "eap.ms_chap_v2.opcode": ("EAP.MSCHAPv2.OpCode", _int),
    "lldp.chassis.subtype": ("LLDP.ChassisId.Subtype", _int), "lldp.port.subtype": ("LLDP.PortId.Subtype", _int),
    "lldp.chassis.id.mac": ("LLDP.ChassisId", _mac), "lldp.port.id.mac": ("LLDP.PortId", _mac),
    # the locally assigned chassis id is text to us, bytes to tshark
    "lldp.chassis.id": ("LLDP.ChassisId", lambda t: _bytes(t).decode()), "lldp.port.id": ("LLDP.PortId", str),
    "lldp.time_to_live": ("LLDP.TimeToLive", _int), "lldp.port.desc": ("LLDP.PortDescription", str),
    "lldp.tlv.system.name": ("LLDP.SystemName", str), "lldp.tlv.system.desc": ("LLDP.SystemDescription", str),
    "lldp.tlv.system_cap": ("LLDP.Capabilities", _int), "lldp.tlv.enable_system_cap": ("LLDP.EnabledCapabilities", _int),
    "lldp.mgn.address.subtype": ("LLDP.ManagementAddress.Subtype", _int),
    "lldp.mgn.addr.ip4": ("LLDP.ManagementAddress", str), "lldp.mgn.addr.ip6": ("LLDP.ManagementAddress", str),
    "lldp.mgn.interface.subtype": ("LLDP.ManagementAddress.InterfaceSubtype", _int),
    "lldp.mgn.interface.number": ("LLDP.ManagementAddress.InterfaceNumber", _int),
    "esp.spi": ("ESP.SPI", _int), "esp.sequence": ("ESP.SequenceNumber", _int),
    "ah.next_header": ("AH.NextHeader", _int), "ah.length": ("AH.Length", _int), "ah.spi": ("AH.SPI", _int),
    "ah.sequence": ("AH.SequenceNumber", _int), "ah.icv": ("AH.ICV", _bytes),
    "isakmp.ispi": ("IKE.InitiatorSPI", _hexint), "isakmp.rspi": ("IKE.ResponderSPI", _hexint),
    "isakmp.nextpayload": ("IKE.NextPayload", _int), "isakmp.mjver": ("IKE.MajorVersion", _int),
    "isakmp.mnver": ("IKE.MinorVersion", _int), "isakmp.exchangetype": ("IKE.ExchangeType", _int),
    "isakmp.flags": ("IKE.Flags", _int), "isakmp.messageid": ("IKE.MessageId", _int),
    "isakmp.length": ("IKE.Length", _int),
}


@pytest.fixture(scope="module")
def pcaps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("link")
    out = {}
    for name, (link, make) in SETS.items():
        out[name] = folder / f"{name}.pcap"
        write_pcap(out[name], link, make())
    return out


@lru_cache(maxsize=32)
def _tshark(path: str, *args: str) -> str:
    return subprocess.run([require_tshark(), "-n", "-r", path, *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


def _frames(name: str) -> list[Frame]:
    link, make = SETS[name]
    out = []
    for i, data in enumerate(make()):
        ctx = dissect(data, link)
        out.append(Frame(i, 0, data, ctx.layers, len(data), len(data), link_type=link))
    return out


@pytest.mark.tshark
@pytest.mark.parametrize("name", list(SETS))
def test_fields_equal_tsharks(name: str, pcaps: dict[str, Path]) -> None:
    names = list(FIELDS)
    args = ["-T", "fields", "-E", "separator=\t"]
    for n in names:
        args += ["-e", n]
    rows = [line.split("\t") for line in _tshark(str(pcaps[name]), *args).splitlines()]
    frames = _frames(name)
    assert len(rows) == len(frames)
    problems, compared = [], 0
    for number, (frame, row) in enumerate(zip(frames, rows, strict=True), 1):
        for ts, text in zip(names, row, strict=True):
            ours_name, convert = FIELDS[ts]
            if not text:
                continue
            want = convert(text)
            got = frame.first(ours_name)
            compared += 1
            if got != want:
                problems.append(f"frame {number} {ts}: tshark {want!r}, ours {got!r}")
    assert not problems, "\n".join(problems)
    assert compared >= 10


@pytest.mark.tshark
def test_our_fields_are_tsharks_and_no_more(pcaps: dict[str, Path]) -> None:
    """Where tshark has no value we have none either (per frame and field), apart from the frames
    cut short (tshark then drops the whole item, we keep what was read and say [Malformed])."""
    cut = {("lldp", 3), ("eapol", len(eapol_frames()))}
    for name in SETS:
        args = ["-T", "fields", "-E", "separator=\t"]
        for n in FIELDS:
            args += ["-e", n]
        rows = [line.split("\t") for line in _tshark(str(pcaps[name]), *args).splitlines()]
        for number, (frame, row) in enumerate(zip(_frames(name), rows, strict=True), 1):
            have = {ours for (ours, _), text in zip(FIELDS.values(), row, strict=True) if text}
            for ours, _ in FIELDS.values():
                if ours not in have and frame.has(ours) and (name, number) not in cut:
                    pytest.fail(f"{name} frame {number}: {ours} = {frame.first(ours)!r}, tshark has none")


def test_description_column() -> None:
    d = [dissect(data, 1).description for data in eapol_frames()]
    assert d[:3] == ["EAPOL:Type=Start", "EAP:Request, Identity", "EAP:Response, Identity, CONTOSO\\alice"]
    assert d[3] == "EAP:Request, PEAP, Start"
    assert d[4] == "EAP:Response, Legacy Nak, wants TLS/PEAP"
    assert d[6] == "EAP:Request, MSCHAPv2, Challenge"
    assert d[7:10] == ["EAP:Success", "EAP:Failure", "EAPOL:Type=Logoff"]
    assert d[10:16] == [f"EAPOL:Type=Key, Message {n} of 4" for n in (1, 2, 3, 4)] + [
        f"EAPOL:Type=Key, Group Message {n} of 2" for n in (1, 2)]
    assert "[Malformed" in d[-1]
    d = [dissect(data, 1).description for data in lldp_frames()]
    assert d[0] == "LLDP:ChassisId = 00-11-22-AA-BB-CC, PortId = Gi1/0/24, TTL = 120, SystemName = sw-core-1"
    d = [dissect(data, 1).description for data in ipsec_frames()]
    assert d[0] == "IKE:Version 2.0, IKE_SA_INIT, Initiator Request, MessageId = 0x00000000"
    assert d[3] == "IKE:Version 1.0, Identity Protection (Main Mode), MessageId = 0x00000000"
    assert d[4] == "ESP:SPI = 0x0A0B0C0D, Seq = 7"
    assert [layer.name for layer in dissect(ipsec_frames()[8], 1).layers] == ["Ethernet", "IPv4", "AH", "TCP", "TLS"]
    keepalive = dissect(ipsec_frames()[7], 1)
    assert keepalive.protocol_name == "UDP" and keepalive.layers[-1].label == "NAT-keepalive"


def test_lldp_padding_is_not_part_of_the_layer() -> None:
    data = lldp_frames()[1]
    layer = dissect(data, 1).layers[-1]
    assert layer.name == "LLDP" and layer.start + layer.length == len(data) - 20


@pytest.mark.tshark
def test_link_filters_select_what_tshark_selects(pcaps: dict[str, Path]) -> None:
    for name, path in pcaps.items():
        trace = open_trace(path, use_cache=False)

        def ours(expr: str, trace: object = trace) -> list[int]:
            flt = compile_filter(expr, trace=trace)
            return (np.flatnonzero(flt.evaluate(trace)) + 1).tolist()

        def theirs(expr: str, path: Path = path) -> list[int]:
            return [int(x) for x in _tshark(str(path), "-Y", expr, "-T", "fields", "-e", "frame.number").split()]

        for netmon, ws in (("EAPOL", "eapol"), ("EAP", "eap"), ("LLDP", "lldp"), ("ESP", "esp"), ("AH", "ah"),
                           ("IKE", "isakmp"), ("ISAKMP", "isakmp"), ("EAP.Code == 4", "eap.code == 4"),
                           ('EAP.Identity == "bob"', 'eap.identity == "bob"'), ("ESP.SPI == 0x0A0B0C0D", "esp.spi == 0x0a0b0c0d"),
                           ("IKE.ExchangeType == 34", "isakmp.exchangetype == 34"),
                           ('LLDP.SystemName == "sw-core-1"', 'lldp.tlv.system.name == "sw-core-1"'),
                           # the "802.1X failures" and "IPsec" presets
                           ("EAP.Code == 4 OR EAP.Type == 3", "eap.code == 4 || eap.type == 3"),
                           ("ESP OR AH OR IKE", "esp || ah || isakmp")):
            assert ours(netmon) == theirs(ws), (name, netmon)


def test_protocol_filters_are_index_filters(pcaps: dict[str, Path]) -> None:
    """``EAPOL``, ``EAP``, ``LLDP``, ``ESP``, ``AH`` and ``IKE`` are answered from the index: no frame
    is decoded to evaluate them."""
    for name, path in pcaps.items():
        trace = open_trace(path, use_cache=False)
        for expr in ("EAPOL", "EAP", "LLDP", "ESP", "AH", "IKE", "ISAKMP"):
            flt = compile_filter(expr, trace=trace)
            flt.evaluate(trace)
            assert flt.last_stats.decoded == 0, (name, expr, flt.last_stats.decoded)


@pytest.mark.parametrize("name", list(SETS))
def test_index_agrees_with_dissectors(name: str, pcaps: dict[str, Path], tmp_path: Path) -> None:
    test_classify.test_fast_path_agrees_with_dissectors(pcaps[name])
    # and on every cut of every frame, where the vectorised rules must send what they cannot decide on
    link, make = SETS[name]
    cuts = [data[:n] for data in make() for n in range(len(data) + 1)]
    path = tmp_path / "cuts.pcap"
    write_pcap(path, link, cuts)
    test_classify.test_fast_path_agrees_with_dissectors(path)


def test_index_decides_these_frames_itself(pcaps: dict[str, Path]) -> None:
    """The vectorised path classifies the whole frames (none left for the dissectors) but the ones
    it must not: a cut ESP header."""
    from tracemon.traces import fastclassify

    for name in ("eapol", "lldp", "ipsec"):
        trace = open_trace(pcaps[name], use_cache=False)
        batch = {k: v.copy() for k, v in trace.index.columns().items()}
        rows = np.arange(len(trace))
        offs = batch["loc"].astype(np.int64)
        links = np.full(len(trace), 1, dtype=np.int64)
        rest = fastclassify.classify(trace, np.frombuffer(trace.buf, dtype=np.uint8), batch, links, rows, offs)
        expected = [len(ipsec_frames()) - 1] if name == "ipsec" else []
        assert rest.tolist() == expected, name


def test_damaged_frames_never_raise() -> None:
    for link, make in SETS.values():
        for data in make():
            for n in range(len(data)):
                run(data[:n], link)
                run(data[:n] + b"\xff" * 8, link)
