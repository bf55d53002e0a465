"""Command palette entries for every command in ``commands.COMMANDS`` (with the key it is bound to)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from . import commands

#: widget scope → the CSS query that finds the widget on the trace screen
SCOPE_QUERY = {"list": "#frames", "tree": "#tree", "detail": "#details", "hex": "#hex", "timeline": "#timeline",
               "filter": "#filter-input"}


class CommandsProvider(Provider):
    def _target(self, command: commands.Command) -> DOMNode | None:
        if command.scope == "app" or command.action.startswith("app."):
            return self.app
        screen = self.screen
        if command.scope == "screen":
            return screen if hasattr(screen, f"action_{command.action.split('(')[0]}") else None
        query = SCOPE_QUERY.get(command.scope)
        if query is None:
            return None
        found = screen.query(query)
        return found.first() if found else None

    def _entries(self) -> list[tuple[commands.Command, DOMNode]]:
        out = []
        keymap = getattr(self.app, "_keymap", {}) or {}
        for c in commands.COMMANDS:
            if not c.palette:
                continue
            target = self._target(c)
            if target is not None:
                out.append((c, target))
        self._keymap = keymap
        return out

    def _help(self, c: commands.Command) -> str:
        keys = commands.key_label(commands.keys_for(c, self._keymap))
        return f"{keys} · {c.help}" if keys else c.help

    async def _run(self, target: DOMNode, action: str) -> None:
        await target.run_action(action.removeprefix("app."))

    async def discover(self) -> Hits:
        for c, target in self._entries():
            yield DiscoveryHit(c.title, partial(self._run, target, c.action), help=self._help(c))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c, target in self._entries():
            score = max(matcher.match(c.title), matcher.match(c.help) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(c.title), partial(self._run, target, c.action),
                          help=self._help(c))
