"""The README's table of packet protocols and their filter names, generated from the registry.

    python -m tracemon.traces.fields_doc            # print the table
    python -m tracemon.traces.fields_doc --write README.md

The registry is the one list of names (STYLE: one way to do a thing); the README shows it between
``<!-- fields:begin -->`` and ``<!-- fields:end -->`` and a test keeps the two equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .fields import REGISTRY, Registry

BEGIN = "<!-- fields:begin -->"
END = "<!-- fields:end -->"


def _aliases(registry: Registry) -> dict[str, list[str]]:
    """Protocol name (lower case) → 'alias → target' texts declared for it."""
    out: dict[str, list[str]] = {}
    for alias, target in registry.aliases():
        spelled = registry.get(target)
        shown = f"`{alias}` → `{spelled.name if spelled is not None else target}`"
        out.setdefault(target.split(".")[0].lower(), []).append(shown)
    return out


def _compact(names: list[str]) -> str:
    """``Flags, Flags.{Ack, Fin, Syn}``: the leaves of a node with three or more children in braces."""
    groups: dict[str, list[str]] = {}
    for n in names:
        parent, _, leaf = n.rpartition(".")
        groups.setdefault(parent, []).append(leaf)
    out = []
    for parent in sorted(groups, key=str.lower):
        leaves = sorted(groups[parent], key=str.lower)
        if not parent:
            out.extend(leaves)
        elif len(leaves) >= 3:
            out.append(f"{parent}.{{{', '.join(leaves)}}}")
        else:
            out.extend(f"{parent}.{leaf}" for leaf in leaves)
    return ", ".join(sorted(out, key=str.lower))


def table(registry: Registry = REGISTRY) -> str:
    """One row per packet protocol: its description, its fields (relative names) and aliases."""
    from . import dissect, packets  # noqa: F401 - importing them declares every packet name

    fields: dict[str, list[str]] = {}
    for fdef in registry:
        if fdef.origin != "dissector" or "." not in fdef.name:
            continue
        head, rest = fdef.name.split(".", 1)
        fields.setdefault(head.lower(), []).append(rest)
    aliases = _aliases(registry)
    rows = ["| Protocol | What it is | Fields (after `Protocol.`) |", "|---|---|---|"]
    protos = sorted((p for p in registry.protocols() if p.origin == "dissector"), key=lambda p: p.name.lower())
    for p in protos:
        names = _compact(fields.get(p.key, [])) or "—"
        extra = aliases.get(p.key)
        text = p.description + (" Aliases: " + ", ".join(extra) + "." if extra else "")
        rows.append(f"| `{p.name}` | {text} | {names} |")
    props = sorted(fields.get("property", []), key=str.lower)
    if props:
        rows.append(f"| `Property` | Netmon parser properties the dissectors set | {', '.join(props)} |")
    return "\n".join(rows)


def replace_between(text: str, body: str) -> str:
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, help="rewrite the table inside this file's markers")
    args = ap.parse_args(argv)
    body = table()
    if args.write is None:
        print(body)
        return 0
    text = args.write.read_text(encoding="utf-8")
    args.write.write_text(replace_between(text, body), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
