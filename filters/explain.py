"""Where each field of a condition is answered from, for ``tracemon check`` and ``CompiledFilter.explain``.

Three places, fastest first: the index columns (protocol presence, conversations, ETW header
values), a field column (``traces/fieldcols.py``: extracted once for every frame, then kept —
by a gather at a fixed position in its layer, a batch pass over the frames carrying a protocol,
or an ETW template walk), and decoding frame by frame.  Even an index field or a column leaves
some frames to decoding (a second instance of a layer in a tunnel or an ICMP error, a header cut
short): the explanation says so, so a user knows what a filter costs before running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..traces.fields import FieldDef, FieldType
from ..traces.protocols import MASK
from .operands import FieldOperand, MultiOperand, NeverOperand, Operand, PseudoOperand

INDEX, COLUMN, DECODE = "index", "column", "decode"


@dataclass(slots=True)
class Source:
    """How one field of a condition is answered."""

    field: str
    kind: str  # INDEX / COLUMN / DECODE
    how: str  # the words after the field name in ``tracemon check``

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "source": self.kind, "how": self.how}


def sources(operand: Operand, trace: Any = None) -> list[Source]:
    """Where each field of ``operand`` is answered from (with ``trace``: whether that trace can
    have a column for it; without one: what a trace with packets in the file would have)."""
    if isinstance(operand, MultiOperand):
        return [s for m in operand.members for s in sources(m, trace)]
    if isinstance(operand, NeverOperand):
        return [Source(operand.label, INDEX, "not in this trace: matches nothing")]
    if isinstance(operand, PseudoOperand):
        if operand.column is None and operand.text_codes is None:
            return [Source(operand.label, DECODE, "decoding every frame")]
        return [Source(operand.label, INDEX, "index columns" if operand.index_only
                       else "index where it can tell, decoding the rest")]
    if not isinstance(operand, FieldOperand):
        return [Source(operand.label, DECODE, "decoding")]
    if operand.parts:
        return [s for p in operand.parts for s in sources(p, trace)]
    return [_field_source(operand, trace)]


def _field_source(op: FieldOperand, trace: Any) -> Source:
    fdef = op.fdef
    name = fdef.name
    if op.index_only:
        return Source(name, INDEX, "index columns")
    if op.fast is not None:
        said = getattr(op.fast, "explained", None)
        if said is not None:
            return Source(name, COLUMN, said)
        return Source(name, INDEX, "index columns; frames that may hold a second instance (tunnels, "
                                   "ICMP errors) decoded")
    if fdef.type is not FieldType.PROTOCOL:
        how = column_how(fdef, trace)
        if how is not None:
            return Source(name, COLUMN, f"field column ({how}; extracted once for every frame, then kept); "
                                        "decoding only frames it cannot tell")
    carriers = _carriers(op)
    within = op.presence.within if op.presence is not None else None
    if within is not None:
        return Source(name, COLUMN, f"absent where the {within[0]} column rules out {within[1]}; decoding the rest "
                                    f"{carriers}".rstrip())
    if op.presence is not None and fdef.type is FieldType.PROTOCOL:
        return Source(name, INDEX, "index where it can tell, decoding the rest")
    how = f"decoding every frame {carriers}" if carriers else "decoding every frame"
    if trace is None and fdef.type is not FieldType.PROTOCOL:
        how += " (unless the trace has a field column for it: check --trace FILE)"
    return Source(name, DECODE, how)


def column_how(fdef: FieldDef, trace: Any) -> str | None:
    """How ``fdef``'s field column is (or would be) built, or None when nothing builds one."""
    from ..traces.fieldcols import columns_for
    from ..traces.fixedfields import fixed

    spec = fixed(fdef.name)
    if trace is None:
        return f"gather at {spec.describe()}, in traces with packets in the file" if spec is not None else None
    try:
        tc = columns_for(trace)
    except TypeError:  # a trace object that cannot be weakly referenced
        return None
    built = tc.peek(fdef)
    if built is not None:
        return f"{built.how}, built" if built.how else "built"
    if not tc.can_build(fdef):
        return None
    return f"gather at {spec.describe()}" if spec is not None else "a batch pass over the frames carrying it"


def _carriers(op: FieldOperand) -> str:
    """"carrying TCP" from the presence mask (the frames a decode is limited to)."""
    p = op.presence
    if p is None:
        return ""
    if p.mask:
        names = [n for n, bit in MASK.items() if p.mask & bit]
        return "carrying " + " or ".join(names) if names else ""
    if p.guid:
        return "of its ETW event" if p.event_ids else "of its ETW provider"
    return ""


def summary(parts: list[Source]) -> str:
    """One condition's explanation from the sources of its fields."""
    if not parts:
        return "index columns"
    hows = list(dict.fromkeys(s.how for s in parts))
    if len(hows) == 1:
        return hows[0]
    return "; ".join(f"{s.field}: {s.how}" for s in parts)
