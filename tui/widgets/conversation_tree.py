"""Netmon's conversation tree: groups of frames with counts; children computed on expand.

Children come from ``conversations.children`` in a thread worker (a big trace has tens of
thousands of address pairs; a TCP conversation's SMB2 trees and HTTP hosts are read from its
frames), like Textual's DirectoryTree.  Collapsing a node that is still loading, reloading or
leaving stops its worker.  Selecting a node posts ``ScopeSelected``; the screen narrows the frame
list to it (combined with the display filter).  A node with a filter adds it to the display
filter (``AddToFilter``, the details pane's message).
"""

from __future__ import annotations

import threading

from rich.style import Style
from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from tracemon.traces.text import visible

from .. import commands, conversations
from ..conversations import Scope

_LOADING = "loading…"


def fit_label(text: Text, tail: int, room: int) -> Text:
    """Cut ``text`` to ``room`` cells by shortening what comes before its last ``tail`` cells
    (the count), ending the cut part with an ellipsis."""
    if room <= 0 or text.cell_len <= room:
        return text
    plain = text.plain
    keep = max(1, room - tail - 1)
    head = text[: len(plain) - tail]
    head.truncate(keep, overflow="crop")
    return Text.assemble(head, "…", text[len(plain) - tail:])


class ConversationTree(Tree[Scope]):
    BINDINGS = commands.bindings("tree")
    DEFAULT_CSS = """
    ConversationTree { background: $surface; }
    """

    class ScopeSelected(Message):
        def __init__(self, scope: Scope) -> None:
            super().__init__()
            self.scope = scope

    class AddToFilter(Message):
        """Add ``clause`` (a node's filter) to the display filter with ``op``."""

        def __init__(self, clause: str, op: str) -> None:
            super().__init__()
            self.clause = clause
            self.op = op

    class _Loaded(Message):
        def __init__(self, node: TreeNode[Scope], kids: list[Scope], generation: int) -> None:
            super().__init__()
            self.node = node
            self.kids = kids
            self.generation = generation

    def __init__(self, trace: object, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        self.trace = trace
        top = conversations.root(trace)  # type: ignore[arg-type]
        # counted once the scan ends (reload): before that a count would read 0 and stay stale
        label = self._label(top) if self._counted else Text.assemble(top.label, ("  reading…", "dim"))
        super().__init__(label, top, name=name, id=id, classes=classes)
        self.guide_depth = 2
        self._loaded: set[int] = set()
        self._open: set[tuple[str, tuple]] = {("all", ())}
        self._generation = 0
        #: node id → the cancel event of its children's worker, while it runs
        self._loading: dict[int, threading.Event] = {}

    @staticmethod
    def _label(scope: Scope) -> Text:
        return Text.assemble(visible(scope.label), (f"  {scope.count:,}", "dim"))

    @property
    def _counted(self) -> bool:
        return self.trace.complete.is_set()  # type: ignore[attr-defined]

    def render_label(self, node: TreeNode[Scope], base_style: Style, style: Style) -> Text:
        """The label cut with an ellipsis to the pane's width so that the count stays visible
        (ETW provider names are 40 characters long; the tree's default width is 34)."""
        text = super().render_label(node, base_style, style)
        scope = node.data
        if scope is None or scope.kind == "more":
            return text
        depth = 0
        parent = node.parent
        while parent is not None:
            depth += 1
            parent = parent.parent
        room = self.scrollable_content_region.width - depth * self.guide_depth
        tail = text.plain.rfind("  ")  # the count (or "reading…") after two spaces
        return fit_label(text, len(text.plain) - tail if tail > 0 else 0, room)

    def on_mount(self) -> None:
        if self._counted:
            self.root.expand()

    # -- lazy children ----------------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Scope]) -> None:
        event.stop()
        node = event.node
        if node.data is not None:
            self._open.add((node.data.kind, node.data.key))
        if node.id in self._loaded:
            return
        self._loaded.add(node.id)
        if node.data is not None and node.data.expandable:
            node.add_leaf(Text(_LOADING, style="italic dim"))
            cancel = self._loading[node.id] = threading.Event()
            self._load(node, node.data, self._generation, cancel)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Scope]) -> None:
        event.stop()
        node = event.node
        if node.data is not None:
            self._open.discard((node.data.kind, node.data.key))
        cancel = self._loading.pop(node.id, None)
        if cancel is not None:  # still loading: stop, and load again when it is opened again
            cancel.set()
            self._loaded.discard(node.id)
            node.remove_children()

    def _stop_loading(self) -> None:
        for cancel in self._loading.values():
            cancel.set()
        self._loading.clear()

    def on_unmount(self) -> None:
        self._stop_loading()

    @work(thread=True, exit_on_error=False, group="conversation-children")
    def _load(self, node: TreeNode[Scope], scope: Scope, generation: int, cancel: threading.Event) -> None:
        kids = conversations.children(self.trace, scope, cancel)  # type: ignore[arg-type]
        if not cancel.is_set():
            self.post_message(self._Loaded(node, kids, generation))

    def on_conversation_tree__loaded(self, message: _Loaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        node = message.node
        if self._loading.pop(node.id, None) is None:
            return  # collapsed (or reloaded) while loading
        node.remove_children()
        if not message.kids:
            node.add_leaf(Text("(nothing below)", style="italic dim"))
        for kid in message.kids:
            child = node.add(self._label(kid), kid, allow_expand=kid.expandable)
            if kid.expandable and (kid.kind, kid.key) in self._open:
                child.expand()

    # -- rebuilding when the scan has read more ---------------------------------------------
    def reload(self) -> None:
        """Recount everything (after the scan finished); open nodes reopen as they load."""
        self._generation += 1
        self._stop_loading()
        self._loaded.clear()
        top = conversations.root(self.trace)  # type: ignore[arg-type]
        self.reset(self._label(top), top)
        self.root.expand()

    # -- selection --------------------------------------------------------------------------
    def on_tree_node_selected(self, event: Tree.NodeSelected[Scope]) -> None:
        event.stop()
        scope = event.node.data
        if scope is None or scope.kind == "more":
            return
        self.post_message(self.ScopeSelected(scope))

    def action_add_filter(self, op: str = "AND") -> None:
        node = self.cursor_node
        scope = node.data if node is not None else None
        if scope is None or not scope.filter:
            self.notify("This node has no filter; select it to show its frames", severity="warning")
            return
        self.post_message(self.AddToFilter(scope.filter, op))

    def action_select_all(self) -> None:
        self.move_cursor(self.root)
        self.post_message(self.ScopeSelected(self.root.data))  # type: ignore[arg-type]
