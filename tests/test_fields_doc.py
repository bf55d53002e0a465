"""The README's table of protocols and field names is the registry's (fields_doc generates it)."""

from __future__ import annotations

from conftest import ROOT
from tracemon.traces import fields_doc


def test_readme_table_is_the_registrys() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(fields_doc.BEGIN) + len(fields_doc.BEGIN)
    shown = text[start : text.index(fields_doc.END)].strip()
    assert shown == fields_doc.table(), "run: python -m tracemon.traces.fields_doc --write README.md"


def test_every_dissector_protocol_has_a_row() -> None:
    from tracemon.traces import REGISTRY

    body = fields_doc.table()
    for p in REGISTRY.protocols():
        if p.origin == "dissector":
            assert f"| `{p.name}` |" in body
