"""Headless subcommands: list, show, stats (filled in by the CLI work)."""

from __future__ import annotations


def main(argv: list[str]) -> int:
    print("tracemon: not implemented yet")
    return 2
