"""Typed values: literals checked against a field's type, and the tests applied to field values.

A ``Test`` is the right-hand side of a comparison made into a predicate on one value
(``== 443``, ``in [80, 443]``, ``in 10.0.0.0/8``, ``.Contains("x")``).  It works on one Python
value (the decoding path) and, where the values fit, on a whole NumPy column (the index path),
so both paths share one definition of what matches.
"""

from __future__ import annotations

import ipaddress
import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..traces.fields import FieldDef, FieldType
from . import ast as A

#: the ordered comparisons (``!=`` and ``~=`` are built from ``==``)
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
MIRROR = {"==": "==", "!=": "!=", "~=": "~=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Test:
    """A predicate on one field value."""

    def py(self, v: Any) -> bool:
        raise NotImplementedError

    def np(self, arr: np.ndarray) -> np.ndarray | None:
        """The test over an integer column, or None when it cannot be vectorised."""
        return None

    def text(self) -> str:
        raise NotImplementedError


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


@dataclass(slots=True)
class Cmp(Test):
    """``op`` one of == < <= > >=; strings compare case-insensitively."""

    op: str
    value: Any
    shown: str = ""

    def __post_init__(self) -> None:
        self.value = _fold(self.value)

    def py(self, v: Any) -> bool:
        if v is None:
            return False
        if isinstance(v, str):
            v = v.casefold()
        try:
            return bool(OPS[self.op](v, self.value))
        except TypeError:
            return False

    def np(self, arr: np.ndarray) -> np.ndarray | None:
        val = self.value
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            return None
        if isinstance(val, int) and not (-(2**63) <= val < 2**64):
            return np.zeros(len(arr), dtype=bool) if self.op == "==" else None
        if isinstance(val, int) and val < 0 and arr.dtype.kind == "u":
            # every unsigned value is greater than a negative one
            return np.full(len(arr), self.op in (">", ">="), dtype=bool)
        return np.asarray(OPS[self.op](arr, val), dtype=bool)

    def text(self) -> str:
        return f"{self.op} {self.shown or self.value}"


@dataclass(slots=True)
class Subnet(Test):
    """An address inside a network (``IPv4.Address == 10.0.0.0/8`` or ``in 10.0.0.0/8``)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def py(self, v: Any) -> bool:
        if not isinstance(v, int):
            return False
        net = self.network
        return (v & int(net.netmask)) == int(net.network_address) and v < (1 << net.max_prefixlen)

    def np(self, arr: np.ndarray) -> np.ndarray | None:
        if self.network.version != 4:
            return None
        a = arr.astype(np.uint64, copy=False)
        return (a & np.uint64(int(self.network.netmask))) == np.uint64(int(self.network.network_address))

    def text(self) -> str:
        return f"in {self.network}"


@dataclass(slots=True)
class AnyOf(Test):
    """``in [a, b, c]``."""

    tests: list[Test]

    def py(self, v: Any) -> bool:
        return any(t.py(v) for t in self.tests)

    def np(self, arr: np.ndarray) -> np.ndarray | None:
        out = np.zeros(len(arr), dtype=bool)
        for t in self.tests:
            r = t.np(arr)
            if r is None:
                return None
            out |= r
        return out

    def text(self) -> str:
        return "in [" + ", ".join(t.text() for t in self.tests) + "]"


@dataclass(slots=True)
class Contains(Test):
    """Substring: text case-insensitively (``.Contains``), bytes exactly (``ContainsBin``)."""

    needle: str | bytes

    def __post_init__(self) -> None:
        if isinstance(self.needle, str):
            self.needle = self.needle.casefold()

    def py(self, v: Any) -> bool:
        n = self.needle
        if isinstance(n, str):
            if isinstance(v, (bytes, bytearray, memoryview)):
                return n.encode("utf-8", "surrogatepass") in bytes(v).lower()
            return isinstance(v, str) and n in v.casefold()
        if isinstance(v, (bytes, bytearray, memoryview)):
            return n in bytes(v)
        if isinstance(v, str):
            return n in v.encode("utf-8", "surrogatepass")
        return False

    def text(self) -> str:
        return f"contains {self.needle!r}"


# -- literal → typed value -------------------------------------------------------------------

class TypeProblem(Exception):
    """A literal that does not fit the field; ``hint`` says what would."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


_NUMERIC = {FieldType.UINT, FieldType.INT, FieldType.BOOL, FieldType.FLOAT, FieldType.DURATION}


def make_test(op: str, lit: A.Literal, fdef_type: FieldType, enum: Any = None, name: str = "") -> Test:
    """The test ``<field of type fdef_type> op lit`` (op is == < <= > >= or "in")."""
    if lit.kind in ("subnet4", "subnet6"):
        want = FieldType.IPV4 if lit.kind == "subnet4" else FieldType.IPV6
        if fdef_type is not want:
            raise TypeProblem(f"{name} is {_type_words(fdef_type)}, not an IPv{4 if want is FieldType.IPV4 else 6} "
                              "address, so it cannot be in a subnet")
        if op not in ("==", "in"):
            raise TypeProblem(f"a subnet can only be used with == or in, not {op}")
        return Subnet(lit.value)  # type: ignore[arg-type]
    value = coerce(lit, fdef_type, enum, name)
    return Cmp("==" if op == "in" else op, value, A.literal_text(lit))


def coerce(lit: A.Literal, t: FieldType, enum: Any = None, name: str = "") -> Any:
    k, v = lit.kind, lit.value
    words = _type_words(t)
    if t is FieldType.PROTOCOL:
        raise TypeProblem(f"{name} is a protocol or event, not a value",
                          f"use it alone as a condition: {name}")
    if t in _NUMERIC or t is FieldType.TIME:
        if k == "bool":
            return int(bool(v))
        if k in ("int", "float"):
            return v
        if k == "time" and t is FieldType.TIME:
            return v
        if k == "string" and enum:
            for num, label in enum.items():
                if str(label).casefold() == str(v).casefold():
                    return num
            names = ", ".join(f"{label} ({num})" for num, label in list(enum.items())[:8])
            raise TypeProblem(f"{lit.text} is not one of the names of {name}", f"values: {names}")
        if k == "string":
            raise TypeProblem(f"{name} is {words}; compare it with a number, not text",
                              f"write the number without quotes, e.g. {name} == 1")
        raise TypeProblem(f"{name} is {words}; {lit.text} is {_kind_words(k)}")
    if t is FieldType.IPV4:
        if k == "ipv4":
            return v
        if k == "int" and 0 <= int(v) < 2**32:  # type: ignore[call-overload]
            return v
        if k == "string":
            try:
                ipaddress.IPv4Address(str(v))
            except ValueError:
                pass
            else:
                raise TypeProblem(f"{name} is an IPv4 address; {lit.text} is text",
                                  f"write the address without quotes: {v}")
        raise TypeProblem(f"{name} is an IPv4 address; {lit.text} is {_kind_words(k)}",
                          "IPv6 addresses are in IPv6.Address" if k == "ipv6" else "")
    if t is FieldType.IPV6:
        if k == "ipv6":
            return v
        if k == "ipv4":
            raise TypeProblem(f"{name} is an IPv6 address; {lit.text} is an IPv4 address",
                              "IPv4 addresses are in IPv4.Address")
        if k == "string":
            try:
                return int(ipaddress.IPv6Address(str(v)))
            except ValueError:
                pass
        raise TypeProblem(f"{name} is an IPv6 address; {lit.text} is {_kind_words(k)}")
    if t is FieldType.MAC:
        if k == "mac" or (k == "int" and 0 <= int(v) < 2**48):  # type: ignore[call-overload]
            return v
        raise TypeProblem(f"{name} is a MAC address; {lit.text} is {_kind_words(k)}",
                          "write a MAC address as 00-15-5D-01-02-03")
    if t is FieldType.STRING:
        if k == "string":
            return v
        raise TypeProblem(f"{name} is text; compare it with a \"quoted string\"",
                          f'write {name} == "{lit.text}"')
    if t is FieldType.GUID:
        if k == "guid":
            return v
        if k == "string":
            try:
                return uuid.UUID(str(v).strip("{}"))
            except ValueError:
                pass
        raise TypeProblem(f"{name} is a GUID; {lit.text} is {_kind_words(k)}",
                          "write a GUID as {67dc0d66-3695-47c0-9642-33f76f7bd7ad}")
    if t is FieldType.BYTES:
        if k == "bytes":
            return v
        if k == "string":
            return str(v).encode("utf-8")
        raise TypeProblem(f"{name} is raw bytes; compare it with $[hex] or a \"string\"")
    raise TypeProblem(f"{name} cannot be compared with {lit.text}")


def _type_words(t: FieldType) -> str:
    return {
        FieldType.PROTOCOL: "a protocol", FieldType.UINT: "a number", FieldType.INT: "a number",
        FieldType.BOOL: "a flag (0 or 1)", FieldType.FLOAT: "a number", FieldType.IPV4: "an IPv4 address",
        FieldType.IPV6: "an IPv6 address", FieldType.MAC: "a MAC address", FieldType.STRING: "text",
        FieldType.BYTES: "raw bytes", FieldType.GUID: "a GUID", FieldType.TIME: "a time",
        FieldType.DURATION: "a duration in 100 ns units",
    }[t]


def _kind_words(k: str) -> str:
    return {"int": "a number", "float": "a number", "ipv4": "an IPv4 address", "ipv6": "an IPv6 address",
            "mac": "a MAC address", "guid": "a GUID", "string": "text", "bytes": "bytes", "time": "a time",
            "bool": "true/false", "subnet4": "a subnet", "subnet6": "a subnet"}.get(k, k)


def literal_accepts(lit: A.Literal, fdef: FieldDef) -> bool:
    """Whether ``lit`` fits ``fdef`` (used to pick the members of a ``*Address`` wildcard)."""
    try:
        make_test("==", lit, fdef.type, fdef.enum, fdef.name)
    except TypeProblem:
        return False
    return True

