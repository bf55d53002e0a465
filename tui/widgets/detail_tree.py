"""Frame Details: the selected frame's layers and fields as an expandable tree.

Labels follow Netmon (``Ethernet: Etype = IPv4, …``, ``DestinationAddress: 00-1F-…``); flag
fields show their bits (``.......0``).  Which nodes are open is remembered by name across
frames, as Netmon does, so walking through frames keeps the same fields in view.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from tracemon.traces.fields import FieldDef
from tracemon.traces.frame import Field, Frame, Layer
from tracemon.traces.text import visible

from .. import commands, expressions


@dataclass(slots=True)
class DetailNode:
    """What a tree line stands for: a byte range and, for filterable nodes, a registry name."""

    path: tuple[str, ...]
    fdef: FieldDef | None
    value: object
    display: str
    start: int
    length: int
    bits: tuple[int, int] | None = None
    title: str = ""

    def line(self) -> str:
        return f"{self.title}: {self.display}" if self.display else self.title


#: the path key of every ETW event's provider layer (see ``DetailTree._add_layer``)
EVENT_LAYER = "(ETW event)"


class DetailTree(Tree[DetailNode]):
    BINDINGS = commands.bindings("detail")
    DEFAULT_CSS = """
    DetailTree { background: $surface; }
    """

    class FieldHighlighted(Message):
        def __init__(self, node: DetailNode | None) -> None:
            super().__init__()
            self.node = node

    class AddToFilter(Message):
        def __init__(self, clause: str, op: str) -> None:
            super().__init__()
            self.clause = clause
            self.op = op

    class AddColumn(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("Frame", name=name, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 2
        #: open nodes by path; an ETW event's fields are what its frame is about: open from the start
        self._open: set[tuple[str, ...]] = {(EVENT_LAYER,)}
        #: the path the user last put the cursor on (kept across frames)
        self._want: tuple[str, ...] | None = None
        #: a node the cursor is being moved to after a rebuild; other highlights meanwhile are noise
        self._target: TreeNode[DetailNode] | None = None
        self.frame: Frame | None = None
        self._restoring = False

    # -- content ----------------------------------------------------------------------------
    def show_frame(self, frame: Frame | None, message: str = "") -> None:
        """Replace the tree with ``frame``'s layers (keeping open nodes open, the cursor's field)."""
        keep = self._want
        self.frame = frame
        self._restoring = True
        self.clear()
        if frame is None:
            if message:
                self.root.add_leaf(Text(visible(message), style="italic"))
            self._restoring = False
            return
        data = frame.data
        target: TreeNode[DetailNode] | None = None
        for layer in frame.layers:
            node = self._add_layer(layer, data)
            if keep and target is None:
                target = self._find_path(node, keep)
        self._restoring = False
        self._target = target
        if target is not None:
            self.call_after_refresh(self._move_to, target)

    def _move_to(self, node: TreeNode[DetailNode]) -> None:
        if node is not self._target and self._target is not None:
            return  # a newer frame replaced the tree meanwhile
        try:
            if self.cursor_node is node:
                self._target = None
                self.post_message(self.FieldHighlighted(node.data))
            else:
                self.move_cursor(node, animate=False)
        except Exception:  # noqa: BLE001 - the node went away with a newer frame
            self._target = None

    @staticmethod
    def _find_path(node: TreeNode[DetailNode], path: tuple[str, ...]) -> TreeNode[DetailNode] | None:
        stack = [node]
        while stack:
            n = stack.pop()
            p = n.data.path if n.data is not None else ()
            if p == path:
                return n
            if path[: len(p)] == p:
                stack.extend(n.children)
        return None

    def _add_layer(self, layer: Layer, data: bytes) -> TreeNode[DetailNode]:
        title = layer.label or layer.name
        # an ETW event's own layer is named for its provider: remembered under one key, so opening
        # it (and the fields under it) holds from event to event as IPv4 does from packet to packet
        meta = getattr(layer.protocol, "meta", None)
        path = (EVENT_LAYER,) if meta and "provider" in meta else (layer.name,)
        node_data = DetailNode(path, layer.protocol, True, layer.summary, layer.start, layer.length, None, title)
        label = Text.assemble((visible(title), "bold"), (": " + visible(layer.summary) if layer.summary else "", ""))
        node = self.root.add(label, node_data, expand=path in self._open, allow_expand=bool(layer.fields))
        self._add_fields(node, layer.fields, path, data)
        return node

    def _add_fields(self, parent: TreeNode[DetailNode], fields: list[Field], path: tuple[str, ...],
                    data: bytes) -> None:
        seen: dict[str, int] = {}
        for f in fields:
            title = f.title
            n = seen.get(title, 0)
            seen[title] = n + 1
            key = title if n == 0 else f"{title}#{n}"
            fpath = (*path, key)
            nd = DetailNode(fpath, f.fdef, f.value, f.display, f.start, f.length, f.bits, title)
            label = self._label(nd, data)
            if f.children:
                child = parent.add(label, nd, expand=fpath in self._open)
                self._add_fields(child, f.children, fpath, data)
            else:
                parent.add_leaf(label, nd)

    @staticmethod
    def _label(nd: DetailNode, data: bytes) -> Text:
        text = Text()
        if nd.bits is not None and 0 <= nd.start and 0 < nd.length <= 4 and nd.start + nd.length <= len(data):
            first, count = nd.bits
            raw = int.from_bytes(data[nd.start : nd.start + nd.length], "big")
            width = nd.length * 8
            pattern = "".join(
                str((raw >> (width - 1 - b)) & 1) if first <= b < first + count else "."
                for b in range(width)
            )
            text.append(f"({pattern}) ", style="dim")
        text.append(visible(nd.title), style="bold" if nd.fdef is not None else "")
        if nd.display:
            text.append(": ")
            text.append(visible(nd.display))
        return text

    def action_expand_everything(self) -> None:
        """Open every node; the paths are remembered, so the next frames open the same way."""
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            if node.data is not None and node.allow_expand:
                self._open.add(node.data.path)
            stack.extend(node.children)
        self.root.expand_all()

    def action_collapse_everything(self) -> None:
        self._open.clear()
        for node in self.root.children:
            node.collapse_all()

    # -- remembering open nodes -------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[DetailNode]) -> None:
        if not self._restoring and event.node.data is not None:
            self._open.add(event.node.data.path)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[DetailNode]) -> None:
        if not self._restoring and event.node.data is not None:
            self._open.discard(event.node.data.path)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[DetailNode]) -> None:
        event.stop()
        if self._target is not None:
            if event.node is not self._target:
                return
            self._target = None
        if event.node.data is not None:
            self._want = event.node.data.path
        self.post_message(self.FieldHighlighted(event.node.data))

    # -- hex → tree -------------------------------------------------------------------------
    def select_offset(self, offset: int) -> DetailNode | None:
        """Move the cursor to the innermost node whose bytes hold ``offset`` (opening its parents)."""
        best: TreeNode[DetailNode] | None = None
        best_key = (-1, 0)
        stack = list(self.root.children)
        while stack:
            n = stack.pop()
            d = n.data
            if d is None or d.start < 0 or d.length <= 0:
                stack.extend(n.children)
                continue
            if d.start <= offset < d.start + d.length:
                key = (len(d.path), -d.length)
                if key > best_key:
                    best, best_key = n, key
                stack.extend(n.children)
        if best is None:
            return None
        parent = best.parent
        while parent is not None and parent is not self.root:
            parent.expand()
            parent = parent.parent
        self._target = best
        self.call_after_refresh(self._move_to, best)
        return best.data

    # -- actions on the field under the cursor ----------------------------------------------
    def _current(self) -> DetailNode | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def action_add_filter(self, op: str) -> None:
        d = self._current()
        if d is None or d.fdef is None:
            self.notify("This line is not a field that filters can name", severity="warning")
            return
        text = expressions.clause(d.fdef, d.value, d.display)
        if text is None:
            self.notify(f"{d.fdef.name} has no value a filter can compare", severity="warning")
            return
        self.post_message(self.AddToFilter(text, op))

    def action_add_column(self) -> None:
        d = self._current()
        if d is None or d.fdef is None:
            self.notify("This line is not a field that can be a column", severity="warning")
            return
        self.post_message(self.AddColumn(d.fdef.name))

    def action_copy(self, what: str) -> None:
        d = self._current()
        if d is None:
            return
        text = d.display if what == "value" else d.line()
        if what == "value" and d.fdef is not None and d.value is True:
            text = d.fdef.name
        self.app.copy_to_clipboard(text)
        shown = text if len(text) <= 60 else text[:59] + "…"
        self.notify(f"Copied: {shown}", timeout=3)
