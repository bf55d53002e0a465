"""Where a trace's frames came from: its capture interfaces and ETW providers.

A leaf module: the readers fill these in, the index cache stores and restores them, and neither
needs ``trace.py`` for it (``Trace`` re-exports both under their old names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Interface", "Provider"]


@dataclass(slots=True)
class Interface:
    """A capture interface (pcapng IDB, pcap file header, ETL ifIndex/port …)."""

    link_type: int
    name: str = ""
    description: str = ""
    snaplen: int = 0
    #: timestamp units per second (pcapng if_tsresol)
    ts_per_second: int = 1_000_000
    ts_offset: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Provider:
    """An ETW provider seen in the trace (``Trace.providers[code]``)."""

    guid: str
    name: str
    protocol: str  # Netmon protocol name, e.g. VMSWITCH_MicrosoftWindowsHyperVVmSwitch
