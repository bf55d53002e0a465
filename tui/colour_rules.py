"""Colour rules: presets with a colour paint the rows they match (first matching preset wins).

Asking every rule about every painted row would cost a page of decodes per keystroke (a TCP
retransmit rule looks back through the conversation).  So rules that the index can answer, or
the index and field columns (``traces/fieldcols.py``: a field extracted once for every frame),
are evaluated once for the whole trace into boolean masks, in a worker; rules that need decoded
fields are asked only about rows that were painted, in a worker, and the rows are repainted
when the answer arrives.  Until then a row shows what the mask rules say.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.style import Style

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

#: decoded-rule answers kept (frame → first matching rule); painted rows only, so this is plenty
KNOWN_LIMIT = 200_000
CHUNK = 1 << 18


@dataclass(slots=True)
class Rule:
    name: str
    filter: Any  # CompiledFilter
    style: Style
    #: the fields whose field columns answer what the index cannot (None: decoding is needed)
    columns: list[Any] | None = None

    @property
    def index_only(self) -> bool:
        return not getattr(self.filter, "uses_decode", True)

    @property
    def by_mask(self) -> bool:
        """Evaluated for the whole trace at once (index columns, field columns)."""
        return self.index_only or self.columns is not None


class ColourRules:
    def __init__(self, trace: Trace, rules: list[Rule]) -> None:
        self.trace = trace
        self.rules = rules
        self._index = [k for k, r in enumerate(rules) if r.by_mask]
        self._decode = [k for k, r in enumerate(rules) if not r.by_mask]
        #: rule number → mask over the frames indexed when it was computed
        self.masks: dict[int, np.ndarray] = {}
        #: frame → first matching decoded rule (len(rules) = none)
        self._known: OrderedDict[int, int] = OrderedDict()
        self._pending: dict[int, None] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.rules)

    # -- what the frame list asks -----------------------------------------------------------
    def style(self, i: int) -> Style | None:
        best = len(self.rules)
        for k in self._index:
            mask = self.masks.get(k)
            if mask is not None and i < len(mask) and mask[i]:
                best = k
                break
        if self._decode and self._decode[0] < best:
            with self._lock:
                known = self._known.get(i)
                if known is None:
                    self._pending[i] = None
            if known is not None:
                best = min(best, known)
        return self.rules[best].style if best < len(self.rules) else None

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    # -- worker side ------------------------------------------------------------------------
    def compute_masks(self, cancel: threading.Event | None = None) -> bool:
        """Evaluate the mask rules over every indexed frame (building the field columns they need:
        run it inside ``fieldcols.watching`` to see that); False when cancelled.  Field columns
        exist only for a finished scan: until then those rules wait (they would decode)."""
        trace = self.trace
        n = len(trace)
        complete = getattr(trace, "complete", None)
        finished = complete is None or complete.is_set()
        for k in self._index:
            if self.rules[k].columns and not finished:
                continue
            parts = []
            for start in range(0, n, CHUNK):
                if cancel is not None and cancel.is_set():
                    return False
                stop = min(n, start + CHUNK)
                try:
                    mask = self.rules[k].filter.evaluate(trace, start, stop, cancel=cancel)
                    if cancel is not None and cancel.is_set():
                        return False
                    parts.append(np.asarray(mask, dtype=bool))
                except Exception:  # noqa: BLE001 - a rule that cannot run just colours nothing
                    parts = []
                    break
                finally:
                    release = getattr(trace, "release_pages", None)
                    if release is not None:
                        release()  # a rule may have read every packet's bytes
            self.masks[k] = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
        return True

    def resolve_pending(self, limit: int = 256) -> int:
        """Answer the decoded rules for up to ``limit`` painted rows; returns how many were done."""
        with self._lock:
            frames = list(self._pending)[:limit]
            for i in frames:
                del self._pending[i]
        trace = self.trace
        for i in frames:
            found = len(self.rules)
            for k in self._decode:
                try:
                    if self.rules[k].filter.matches(trace, i):
                        found = k
                        break
                except Exception:  # noqa: BLE001, S112 - an undecodable frame is not coloured
                    continue
            with self._lock:
                self._known[i] = found
                if len(self._known) > KNOWN_LIMIT:
                    self._known.popitem(last=False)
        return len(frames)


def from_presets(trace: Trace, presets: list[Any], compile_filter: Any, dark_theme: bool,
                 cancel: threading.Event | None = None) -> ColourRules:
    """Rules for the presets that carry a colour (in preset order); ones that do not compile for
    this trace are left out.  Light themes get darker shades: "yellow" on white is unreadable.
    ``cancel`` (the screen going away) stops it between presets: quitting waits for no compile."""
    from textual.color import Color

    rules: list[Rule] = []
    for p in presets:
        if cancel is not None and cancel.is_set():
            break
        if not p.color or not (p.expression or "").strip():
            continue
        try:
            cf = compile_filter(p.expression, trace)
            color = Color.parse(p.color)
        except Exception:  # noqa: BLE001, S112 - a preset that does not compile here colours nothing
            continue
        if not dark_theme:
            color = color.blend(Color(0, 0, 0), 0.45)
        rule = Rule(p.name, cf, Style(color=color.rich_color, bold=True))
        if not rule.index_only:
            rule.columns = column_fields(cf, trace)
        rules.append(rule)
    return ColourRules(trace, rules)


def column_fields(cf: Any, trace: Trace) -> list[Any] | None:
    """The fields whose field columns answer every condition of ``cf`` the index cannot, or None
    when a condition needs decoding (arithmetic, a field no column holds, an index fast path that
    leaves frames to decoding)."""
    from tracemon.traces.fieldcols import columns_for
    from tracemon.traces.fields import FieldType

    from . import filter_api

    preds, operands = filter_api.module("preds"), filter_api.module("operands")
    out: list[Any] = []
    try:
        cols = columns_for(trace)
    except TypeError:
        return None
    root = getattr(cf, "root", None)
    if root is None or getattr(cf, "tree", None) is None:
        return None
    for leaf in root.leaves():
        if leaf.index_only:
            continue
        if not isinstance(leaf, preds.Leaf | preds.Exists):
            return None
        op = leaf.operand
        for o in op.members if isinstance(op, operands.MultiOperand) else [op]:
            if not isinstance(o, operands.FieldOperand):
                return None
            for part in o.parts or [o]:
                if part.index_only:
                    continue
                if part.fast is not None or part.fdef.type is FieldType.PROTOCOL or not cols.can_build(part.fdef):
                    return None
                out.append(part.fdef)
    return out or None
