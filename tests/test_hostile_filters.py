"""Issue 12 item 12: over-long filters and literals are refused with a message, before they
cost a traceback (``int()`` of 4,301+ digits) or hundreds of megabytes (a 1 MB string literal)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tracemon.filters import FilterError, compile_filter
from tracemon.filters.grammar import MAX_FILTER_CHARS, MAX_NUMBER_CHARS, MAX_STRING_CHARS
from tracemon.tui.headless import main


@pytest.mark.parametrize("literal", ["9" * 4301, "9" * 60_000, "0x" + "f" * 5000, "1." + "5" * 1100],
                         ids=["4301-digits", "60k-digits", "hex", "float"])
def test_a_huge_number_is_a_filter_error(literal: str) -> None:
    with pytest.raises(FilterError) as e:
        compile_filter(f"TCP.Port == {literal}")
    assert e.value.column == len("TCP.Port == ") + 1
    assert "characters" in e.value.message and "number" in e.value.message


def test_numbers_as_long_as_a_field_still_parse() -> None:
    compile_filter("Frame.FrameNumber < " + "0" * 20 + str(2**64 - 1))  # 40 digits
    compile_filter("TCP.Port == 0x" + "0" * (MAX_NUMBER_CHARS - 4) + "50")


def test_long_strings_and_filters_are_refused_with_their_size() -> None:
    compile_filter('DNS.QRecord.QuestionName == "' + "a" * (MAX_STRING_CHARS - 2) + '"')
    with pytest.raises(FilterError, match="literal is 5,002 characters"):
        compile_filter('DNS.QRecord.QuestionName == "' + "a" * 5000 + '"')
    with pytest.raises(FilterError, match="literal is"):
        compile_filter("Frame contains $[" + "00 " * 3000 + "]")
    with pytest.raises(FilterError, match=f"up to {MAX_FILTER_CHARS:,}"):
        compile_filter("TCP OR " * 20_000 + "UDP")


def test_check_reports_a_huge_number_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "TCP.Port == " + "9" * 5000]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "5,000 characters" in err


def test_filter_bar_validation_shows_the_limit() -> None:
    from conftest import sample
    from tracemon.traces import open_trace
    from tracemon.tui.widgets.filter_bar import validate

    trace = open_trace(str(sample("pcap/tcpreplay_test.pcap")))
    v = validate("TCP.Port == " + "1" * 5000, trace)
    assert not v.ok and "5,000 characters" in v.message and v.column == 13


def test_a_megabyte_string_literal_costs_little_memory() -> None:
    """Peak RSS in a fresh interpreter: compiling it took 512 MB before the limits."""
    code = ("import resource, sys\n"
            "from tracemon.filters import FilterError, compile_filter\n"
            "compile_filter('TCP')\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n"
            "    compile_filter('DNS.QRecord.QuestionName == \"' + 'a' * 1_000_000 + '\"')\n"
            "except FilterError as e:\n"
            "    print(e.message, file=sys.stderr)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert "characters long" in r.stderr
    assert int(r.stdout) < 64  # MB above the interpreter with the filter package loaded
