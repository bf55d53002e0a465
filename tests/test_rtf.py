"""RTF → plain text, as Netmon frame comment descriptions need it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.traces.rtf import MAX_DEPTH, rtf_to_text

RICHEDIT = (r"{\rtf1\ansi\ansicpg1252\deff0\deflang1033{\fonttbl{\f0\fnil\fcharset0 Segoe UI;}"
            r"{\f1\fnil\fcharset0 MS Shell Dlg 2;}}" "\r\n" r"{\colortbl ;\red0\green0\blue0;}" "\r\n"
            r"{\*\generator Riched20 10.0.14393}\viewkind4\uc1\pard\cf1\f0\fs18 The annotated frames 22"
            r"\lang2052 -43\lang1033  illustrate:\par" "\r\n" r"Step\tab\tab 1\par" "\r\n" r"\cf0\f1\fs16\par" "\r\n}"
            "\r\n\x00")


def test_richedit_document() -> None:
    assert rtf_to_text(RICHEDIT) == "The annotated frames 22-43 illustrate:\nStep            1"  # tab stops
    assert rtf_to_text(RICHEDIT.encode("latin-1")) == rtf_to_text(RICHEDIT)


@pytest.mark.parametrize(("rtf", "text"), [
    (r"{\rtf1 Caf\'e9}", "Café"),  # default code page 1252
    (r"{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8}", "При"),
    (r"{\rtf1\ansi\ansicpg932 \'82\'a0}", "あ"),  # a double-byte code page: the bytes decode together
    (r"{\rtf1\ansi\ansicpg99999 \'e9}", "é"),  # an unknown code page falls back to 1252
    (r"{\rtf1\uc1 \u8364? \u-10179?\u-8704?}", "€ 😀"),  # fallback characters skipped; a surrogate pair
    (r"{\rtf1\uc2 \u233\'3f\'3fz}", "éz"),  # \uc2: two fallback characters, escapes counted as one each
    (r"{\rtf1\uc0 \u233 z}", "éz"),
    (r"{\rtf1 a\line b\tab c\~d\emdash e\{\}\\}", "a\nb       c\u00a0d\u2014e{}\\"),
    (r"{\rtf1 {\*\unknowndest skipped {nested}}{\pict 0a0b}{\info{\author me}}kept}", "kept"),
    (r"{\rtf1 {\b bold} and {\i italic}}", "bold and italic"),
    (r"{\rtf1 unbalanced {{\par more", "unbalanced\nmore"),
    (r"{\rtf1 a}} trailing text after the document", "a"),
    ("not RTF at all: {\\par} kept as is", "not RTF at all: {\\par} kept as is"),
])
def test_reductions(rtf: str, text: str) -> None:
    assert rtf_to_text(rtf) == text


def test_deep_nesting_is_bounded() -> None:
    deep = "{\\rtf1 " + "{" * (MAX_DEPTH * 20) + "x" + "}" * (MAX_DEPTH * 20) + " y}"
    assert rtf_to_text(deep) == "x y"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}\\'*abcdu0123456789- \r\n\tpar")), max_size=300))
def test_any_input_gives_text(body: str) -> None:
    out = rtf_to_text("{\\rtf1 " + body)
    assert isinstance(out, str) and "\x00" not in out
