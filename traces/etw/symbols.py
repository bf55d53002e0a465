"""Symbol map files: event id → symbol for a provider whose manifest has no symbols.

Compiled manifests (and so ``wevtutil`` dumps) keep no ``symbol=`` names; for VmSwitch the names
(``VM_NBL_DELIVER`` …) live only in vmswitch.sys' PDB.  A symbol map supplies them::

    # provider: Microsoft-Windows-Hyper-V-VmSwitch      (a name or a {GUID})
    # id <TAB> symbol             or    id <TAB> version <TAB> symbol
    58	VM_NBL_DELIVER
    56	0	VM_NBL_RECEIVE

Without a ``# provider:`` line the file name says it: ``<provider name or GUID>.symbols.tsv``.
Blank lines and ``#`` comments are ignored; a bad line gives a warning with its line number.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import SchemaStore

_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_LINES = 1_000_000


def resolve_provider(text: str, store: SchemaStore | None = None) -> uuid.UUID | None:
    """A provider GUID from ``{guid}``, ``guid`` or a provider name we know."""
    from .naming import KNOWN_PROVIDERS
    from .schema import STORE

    t = text.strip()
    try:
        return uuid.UUID(t.strip("{}"))
    except ValueError:
        pass
    for guid, name, _prefix, _ in KNOWN_PROVIDERS:
        if name.lower() == t.lower():
            return uuid.UUID(guid)
    return (store or STORE).find_by_name(t)


def parse_symbols(text: str, source: str = "<symbols>") -> tuple[str | None, dict[tuple[int, int | None], str], list[str]]:
    """(provider from the header or None, {(id, version or None): symbol}, warnings)."""
    provider = None
    table: dict[tuple[int, int | None], str] = {}
    warnings: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if n > MAX_LINES:
            warnings.append(f"{source}: more than {MAX_LINES} lines; the rest is ignored")
            break
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            m = re.match(r"#\s*provider\s*:\s*(.+)$", s, re.IGNORECASE)
            if m:
                provider = m.group(1).strip()
            continue
        cols = [c.strip() for c in re.split(r"\t|\s{2,}|,", s) if c.strip()]
        try:
            if len(cols) == 2:
                eid, ver, sym = int(cols[0], 0), None, cols[1]
            elif len(cols) == 3:
                eid, ver, sym = int(cols[0], 0), int(cols[1], 0), cols[2]
            else:
                raise ValueError
        except ValueError:
            warnings.append(f"{source} line {n}: expected 'id<TAB>symbol' or 'id<TAB>version<TAB>symbol', got {s!r}")
            continue
        if not 0 <= eid <= 0xFFFF or (ver is not None and not 0 <= ver <= 0xFF):
            warnings.append(f"{source} line {n}: event id {eid} or version {ver} out of range")
            continue
        if not _SYMBOL.match(sym):
            warnings.append(f"{source} line {n}: {sym!r} is not a symbol name")
            continue
        table[(eid, ver)] = sym
    return provider, table, warnings


def load_symbols(path: Path | str, store: SchemaStore | None = None
                 ) -> tuple[uuid.UUID | None, dict[tuple[int, int | None], str], list[str]]:
    from .manifest import as_text

    p = Path(path)
    provider, table, warnings = parse_symbols(as_text(p.read_bytes()), str(p))
    if provider is None:
        name = p.name
        for suffix in (".symbols.tsv", ".symbols.txt", ".tsv", ".txt"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        provider = name
    guid = resolve_provider(provider, store)
    if guid is None:
        warnings.append(f"{p}: unknown provider {provider!r} (write '# provider: <name or {{GUID}}>' at the top)")
    return guid, table, warnings
