"""The field registry: the one list of protocol and field names.

Every dissector declares its protocols and fields here once, with the Netmon name
(``IPv4.SourceAddress``, ``TCP.Flags.Syn``), a type and a one-line description.  The filter
compiler, the detail pane, autocomplete and "add as column" all read this registry.

Names are case-insensitive (Netmon's rule).  A trace may add names of its own (ETW providers,
their events and fields) in an *overlay* registry that falls back to the global one.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


class FieldType(enum.Enum):
    """How a field's value is represented, compared and written as a literal."""

    PROTOCOL = "protocol"  # a node that exists or not (protocols, events, sub-structures)
    UINT = "uint"  # int
    INT = "int"  # int
    BOOL = "bool"  # int 0/1 (Netmon flags compare with == 1)
    FLOAT = "float"  # float
    IPV4 = "ipv4"  # int (host order u32)
    IPV6 = "ipv6"  # int (u128)
    MAC = "mac"  # int (u48)
    STRING = "string"  # str
    BYTES = "bytes"  # bytes
    GUID = "guid"  # uuid.UUID
    TIME = "time"  # int, ns since the Unix epoch (UTC)
    DURATION = "duration"  # int, 100 ns ticks (Netmon FrameVariable.TimeDelta/TimeOffset)

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC


_NUMERIC = {FieldType.UINT, FieldType.INT, FieldType.BOOL, FieldType.FLOAT, FieldType.TIME, FieldType.DURATION}


@dataclass(slots=True, frozen=True, eq=False)
class FieldDef:
    """A protocol or field as filters and the UI know it."""

    name: str
    type: FieldType
    description: str = ""
    #: for pair fields (``IPv4.Address``): the directional fields it stands for, matched with OR
    pair: tuple[str, ...] = ()
    #: value names for display and completion (``{6: "TCP", 17: "UDP"}``)
    enum: Mapping[int, str] | None = None
    #: True when the name is our inference, not a published one (VmSwitch event symbols)
    inferred: bool = False
    #: where the definition came from ("dissector", "etw:<provider>", "manifest:<file>"…)
    origin: str = "dissector"
    #: facts for the filter compiler's index fast path, e.g. ``{"provider": guid, "event_id": 56}``
    meta: Mapping[str, object] | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def protocol(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def leaf(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"FieldDef({self.name!r}, {self.type.value})"


@dataclass(slots=True, eq=False)
class Registry:
    """Case-insensitive name → FieldDef map with aliases and an optional parent to fall back on."""

    parent: Registry | None = None
    _defs: dict[str, FieldDef] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: close_matches' index (see _levels) and the ``_generation`` it was built at
    _levels_cache: tuple[int, dict[str, list[str]]] | None = None

    # -- declaring -------------------------------------------------------------------------
    def define(
        self,
        name: str,
        type: FieldType,
        description: str = "",
        *,
        pair: tuple[str, ...] = (),
        enum: Mapping[int, str] | None = None,
        inferred: bool = False,
        origin: str = "dissector",
        meta: Mapping[str, object] | None = None,
        replace: bool = False,
    ) -> FieldDef:
        """Declare a name once.  Re-declaring the same name with another type is a bug."""
        fdef = FieldDef(name, type, description, pair, enum, inferred, origin, meta)
        key = fdef.key
        with self._lock:
            old = self._defs.get(key)
            if old is not None and not replace:
                if old.type is not type or old.name != name:
                    raise ValueError(f"field {name!r} declared twice ({old!r} vs {fdef!r})")
                return old
            self._defs[key] = fdef
            _generation[0] += 1
        return fdef

    def protocol(self, name: str, description: str = "", **kw: object) -> FieldDef:
        return self.define(name, FieldType.PROTOCOL, description, **kw)  # type: ignore[arg-type]

    def alias(self, alias: str, target: str) -> None:
        """Make ``alias`` (and anything under ``alias.``) resolve as ``target``."""
        with self._lock:
            self._aliases[alias.lower()] = target
            _generation[0] += 1

    # -- looking up ------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """Rewrite an aliased prefix (``MicrosoftWindowsHyperVVmSwitch.X`` → ``VMSWITCH_….X``)."""
        key = name.lower()
        reg: Registry | None = self
        while reg is not None:
            if reg._aliases:
                parts = key.split(".")
                for n in range(len(parts), 0, -1):
                    target = reg._aliases.get(".".join(parts[:n]))
                    if target is not None:
                        rest = name.split(".")[n:]
                        return ".".join([target, *rest])
            reg = reg.parent
        return name

    def get(self, name: str) -> FieldDef | None:
        key = self.canonical(name).lower()
        reg: Registry | None = self
        while reg is not None:
            fdef = reg._defs.get(key)
            if fdef is not None:
                return fdef
            reg = reg.parent
        return None

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self) -> Iterator[FieldDef]:
        seen: set[str] = set()
        reg: Registry | None = self
        while reg is not None:
            for key, fdef in list(reg._defs.items()):
                if key not in seen:
                    seen.add(key)
                    yield fdef
            reg = reg.parent

    def aliases(self) -> list[tuple[str, str]]:
        """(alias in lower case, target) pairs declared here (not the parent's), sorted."""
        return sorted(self._aliases.items())

    def protocols(self) -> list[FieldDef]:
        return [f for f in self if f.type is FieldType.PROTOCOL and "." not in f.name]

    def children(self, prefix: str) -> list[FieldDef]:
        """The names one level below ``prefix`` (``"TCP"`` → ``TCP.SrcPort``, ``TCP.Flags`` …)."""
        prefix = self.canonical(prefix)
        want = prefix.lower() + "." if prefix else ""
        depth = want.count(".")
        out: dict[str, FieldDef] = {}
        for fdef in self:
            key = fdef.key
            if not key.startswith(want):
                continue
            dots = key.count(".")
            if dots == depth:
                out[key] = fdef  # a declared node wins over one implied by a deeper name
            elif dots > depth:
                # an intermediate node that is not declared itself (``TCP.Flags`` when only
                # ``TCP.Flags.Syn`` is)
                head = ".".join(fdef.name.split(".")[: depth + 1])
                out.setdefault(head.lower(), FieldDef(head, FieldType.PROTOCOL, "", origin="implied"))
        return sorted(out.values(), key=lambda f: f.name.lower())

    def overlay(self) -> Registry:
        """A registry for one trace: new names go here, lookups fall back to this one."""
        return Registry(parent=self)

    def close_matches(self, name: str, n: int = 5) -> list[str]:
        """Known names close to a misspelt one, found level by level: the longest prefix that
        exists picks the names one level below it, so difflib compares a handful of names, not
        every field of every provider (the filter bar asks on every keystroke)."""
        import difflib

        levels = self._levels()
        parts = self.canonical(name).split(".")
        for k in range(len(parts) - 1, -1, -1):
            parent = ".".join(parts[:k]).lower()
            below = levels.get(parent)
            if not below:
                continue
            want = ".".join(parts[: k + 1]).lower()
            lower = {x.lower(): x for x in below}
            hits = difflib.get_close_matches(want, list(lower), n=n, cutoff=0.6)
            if hits:
                rest = parts[k + 1 :]
                out = []
                for h in hits:  # a misspelt provider: offer the whole name under the right one
                    whole = ".".join([lower[h], *rest])
                    out.append(self.get(whole).name if rest and self.get(whole) is not None else lower[h])
                return out
        return []

    def _levels(self) -> dict[str, list[str]]:
        """parent name (lower case, "" for the top) → the names one level below it."""
        cached = self._levels_cache
        stamp = _generation[0]
        if cached is not None and cached[0] == stamp:
            return cached[1]
        levels: dict[str, list[str]] = {}
        seen: set[str] = set()
        for fdef in self:
            parts = fdef.name.split(".")
            for k in range(len(parts)):
                full = ".".join(parts[: k + 1])
                if full.lower() in seen:
                    continue
                seen.add(full.lower())
                levels.setdefault(".".join(parts[:k]).lower(), []).append(full)
        self._levels_cache = (stamp, levels)
        return levels


#: bumped by every ``define``/``alias`` in any registry, so overlays know their caches are stale
_generation = [0]


#: The global registry every dissector declares into at import time.
REGISTRY = Registry()
