"""Wireshark names typed from habit get the Netmon name that means the same (issue 11)."""

from __future__ import annotations

import pytest
from tracemon.filters import FilterError, compile_filter
from tracemon.filters.wireshark_names import WIRESHARK_TO_NETMON

#: protocols whose dissectors may not be there yet: their names are offered once they are
PENDING: set[str] = set()


def _error(text: str) -> FilterError:
    with pytest.raises(FilterError) as got:
        compile_filter(text)
    return got.value


@pytest.mark.parametrize(("ws", "netmon"), [
    ("ip.addr == 10.0.0.1", "IPv4.Address"),
    ("ip.src == 10.0.0.1 AND TCP.Port == 443", "IPv4.SourceAddress"),
    ('dns.qry.name contains "contoso"', "DNS.QRecord.QuestionName"),
    ("tcp.analysis.retransmission", "Property.TCPRetransmit"),
    ("eth.src == 00-15-5D-00-00-01", "Ethernet.SourceAddress"),
    ("frame.len > 1000", "Frame.FrameLength"),
    ("ipv6.addr == fe80::1", "IPv6.Address"),
])
def test_a_wireshark_name_is_answered_with_its_netmon_name(ws: str, netmon: str) -> None:
    err = _error(ws)
    assert "Wireshark" in err.message
    assert err.suggestions == [netmon]
    compile_filter(ws.replace(ws.split()[0], netmon, 1))  # the suggested name works in its place


def test_every_netmon_name_in_the_table_exists_or_awaits_its_dissector() -> None:
    for ws, netmon in WIRESHARK_TO_NETMON.items():
        try:
            compile_filter(netmon)
        except FilterError as e:
            assert netmon.split(".")[0].lower() in PENDING, f"{ws} → {netmon}: {e.message}"


def test_names_of_protocols_not_dissected_are_never_offered() -> None:
    for ws, netmon in WIRESHARK_TO_NETMON.items():
        try:
            compile_filter(netmon)
        except FilterError:
            err = _error(ws)
            assert netmon not in (err.suggestions or []), ws


def test_netmon_names_and_aliases_are_untouched() -> None:
    compile_filter("IPv4.Address == 10.0.0.1 AND TCP.Port == 443")
    # Netmon names are case-insensitive: where Wireshark's spelling is also Netmon's, it just works
    compile_filter("tcp.port == 443 AND udp.dstport == 53 AND tcp.flags.rst == 1")
