"""Every user action, defined once: key, title, help text, where it acts.

The footer, the command palette, the help screen and the ``[keys]`` section of the config file
all read this table, so a command cannot be reachable from one and missing from another.  Each
command becomes a Textual ``Binding`` with ``id=Command.id``; ``App.set_keymap`` remaps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    keys: str  # Textual key names, comma separated ("f1,question_mark")
    action: str  # action name on the node that owns the scope
    title: str
    help: str
    group: str
    #: "app", "screen" (the trace screen), or a widget scope: "list", "tree", "detail", "hex", "timeline"
    scope: str = "screen"
    footer: bool = False
    #: shown in the command palette (False for plain cursor movement)
    palette: bool = True
    #: opens somewhere to type: the keys typed right after it go there (see ``tracemon.tui.typeahead``).
    #: Such a command is a priority binding, so it runs as soon as its key is read.
    typeahead: bool = False

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.title, show=self.footer, id=self.id,
                       tooltip=self.help, priority=self.typeahead)


COMMANDS: tuple[Command, ...] = (
    # -- general ----------------------------------------------------------------------------
    Command("help", "f1,question_mark", "app.help", "Help", "All keys and commands", "General", "screen", True),
    Command("quit", "q", "confirm_quit", "Quit", "Leave tracemon (asks first: q, y or Enter again quits)",
            "General", "app", True),
    Command("quit_now", "ctrl+q", "quit", "Quit now", "Leave tracemon without asking", "General", "app"),
    Command("theme", "f9", "next_theme", "Theme", "Switch to the next theme (light, dark, high contrast)",
            "General", "app"),
    Command("warnings", "w", "warnings", "Warnings", "Show what the reader could not read, and what was kept",
            "General"),
    Command("next_trace", "f6", "next_trace", "Next trace", "Switch to the next open trace file", "General", "app"),
    Command("resume_session", "ctrl+r", "resume_session", "Resume session",
            "Restore the filter, columns, time mode, marks, sort and position of the last time this file was open",
            "General"),
    # -- filter -----------------------------------------------------------------------------
    Command("focus_filter", "slash", "focus_filter", "Filter",
            "Type a display filter (Enter applies, Esc leaves the bar)", "Filter", footer=True, typeahead=True),
    Command("presets", "p", "presets", "Presets", "Pick a saved or standard filter preset", "Filter", footer=True,
            typeahead=True),
    Command("save_preset", "ctrl+s", "save_preset", "Save preset",
            "Save the current filter and columns as a named preset", "Filter", typeahead=True),
    Command("clear_filter", "ctrl+l", "clear_filter", "Clear filter",
            "Remove the display filter and the conversation selection (also from the bar)", "Filter"),
    Command("find", "ctrl+f", "find", "Find", "Find a frame matching an expression (the display filter stays)",
            "Filter", footer=True, typeahead=True),
    Command("find_next", "n", "find_next", "Find next", "Next frame matching the find expression", "Filter"),
    Command("find_previous", "N", "find_previous", "Find previous",
            "Previous frame matching the find expression", "Filter"),
    Command("colour_rules", "C", "colour_rules", "Colour rules", "Colour rows by preset colours (on/off)", "Filter"),
    # -- navigate ---------------------------------------------------------------------------
    Command("goto", "ctrl+g,g", "goto", "Go to", "Go to a frame number", "Navigate", footer=True,
            typeahead=True),
    Command("mark", "m", "mark", "Mark", "Mark or unmark the selected frame", "Navigate", footer=True),
    Command("next_mark", "right_square_bracket", "next_mark", "Next mark", "Jump to the next marked frame",
            "Navigate"),
    Command("previous_mark", "left_square_bracket", "previous_mark", "Previous mark",
            "Jump to the previous marked frame", "Navigate"),
    # -- view -------------------------------------------------------------------------------
    Command("time_mode", "t", "time_mode", "Time", "Time column: UTC, local, offset, delta, from reference",
            "View", footer=True),
    Command("set_reference", "r", "set_reference", "Reference", "Make the selected frame the time reference",
            "View"),
    Command("columns", "c", "columns", "Columns", "Add, remove and reorder frame list columns", "View",
            footer=True, typeahead=True),
    Command("sort", "s", "sort", "Sort", "Sort the frame list by a column", "View", typeahead=True),
    Command("toggle_tree", "f2", "toggle_pane('tree')", "Conversations", "Show or hide the conversation tree",
            "View"),
    Command("toggle_details", "f3", "toggle_pane('details')", "Details", "Show or hide frame details", "View"),
    Command("toggle_hex", "f4", "toggle_pane('hex')", "Hex", "Show or hide the hex view", "View"),
    Command("toggle_timeline", "f5", "toggle_pane('timeline')", "Timeline", "Show or hide the timeline", "View"),
    Command("tree_wider", "ctrl+right,greater_than_sign", "resize('tree', 4)", "Wider tree",
            "Make the conversation tree wider", "View"),
    Command("tree_narrower", "ctrl+left,less_than_sign", "resize('tree', -4)", "Narrower tree",
            "Make the conversation tree narrower", "View"),
    Command("list_taller", "ctrl+down,plus", "resize('list', 2)", "Taller list", "Give the frame list more rows",
            "View"),
    Command("list_shorter", "ctrl+up,minus", "resize('list', -2)", "Shorter list",
            "Give the details and hex more rows", "View"),
    # -- export -----------------------------------------------------------------------------
    Command("export", "e", "export", "Export", "Save the displayed frames as pcapng, CSV or JSON", "Export",
            footer=True, typeahead=True),
    # -- filter bar -------------------------------------------------------------------------
    Command("filter_apply", "enter", "submit", "Apply filter", "Apply the filter (runs in the background)",
            "Filter bar", "filter", palette=False),
    Command("filter_leave", "escape", "leave", "Leave the bar",
            "Close the completion list, or go back to the list; the applied filter stays (its text comes "
            "back, what you typed goes into the history)", "Filter bar", "filter", palette=False),
    Command("filter_erase", "ctrl+u", "erase", "Erase", "Empty the bar (then Enter removes the filter)",
            "Filter bar", "filter", palette=False),
    Command("filter_complete", "tab", "complete", "Complete",
            "Complete the word at the cursor, or accept the highlighted completion (never leaves the bar)",
            "Filter bar", "filter", palette=False),
    Command("filter_completion_up", "shift+tab", "completion_up", "Previous completion",
            "Highlight the previous completion (never leaves the bar)", "Filter bar", "filter", palette=False),
    Command("filter_completions", "ctrl+space", "show_completions", "Completions",
            "Show completions for the word at the cursor", "Filter bar", "filter", palette=False),
    Command("filter_history_back", "up", "history(-1)", "Older filter", "Previous filter from the history",
            "Filter bar", "filter", palette=False),
    Command("filter_history_forward", "down", "history(1)", "Newer filter", "Next filter from the history",
            "Filter bar", "filter", palette=False),
    # -- frame list -------------------------------------------------------------------------
    Command("list_up", "up,k", "cursor(-1)", "Up", "Previous frame", "Frame list", "list", palette=False),
    Command("list_down", "down,j", "cursor(1)", "Down", "Next frame", "Frame list", "list", palette=False),
    Command("list_page_up", "pageup", "page(-1)", "Page up", "One screen up", "Frame list", "list",
            palette=False),
    Command("list_page_down", "pagedown,space", "page(1)", "Page down", "One screen down", "Frame list", "list",
            palette=False),
    Command("list_first", "home", "first", "First frame", "The first displayed frame", "Frame list", "list"),
    Command("list_last", "end,G", "last", "Last frame", "The last displayed frame", "Frame list", "list"),
    Command("list_left", "left", "scroll_columns(-8)", "Scroll left", "Scroll the columns left", "Frame list",
            "list", palette=False),
    Command("list_right", "right", "scroll_columns(8)", "Scroll right", "Scroll the columns right",
            "Frame list", "list", palette=False),
    Command("list_column_wider", "greater_than_sign", "resize_column(1)", "Wider column",
            "Make the current column wider (Shift+←/→ picks it; or drag its header edge)", "Frame list", "list"),
    Command("list_column_narrower", "less_than_sign", "resize_column(-1)", "Narrower column",
            "Make the current column narrower (Shift+←/→ picks it; or drag its header edge)", "Frame list",
            "list"),
    Command("list_column_next", "shift+right", "next_column(1)", "Next column",
            "Pick the next column for < / > (underlined in the header)", "Frame list", "list", palette=False),
    Command("list_column_previous", "shift+left", "next_column(-1)", "Previous column",
            "Pick the previous column for < / > (underlined in the header)", "Frame list", "list",
            palette=False),
    # -- conversation tree ------------------------------------------------------------------
    Command("tree_all", "a", "select_all", "All traffic", "Show all frames again (drop the conversation)",
            "Conversations", "tree"),
    Command("tree_filter", "f", "add_filter('AND')", "Node filter",
            "Add the node's filter (shown in the status line when selected) to the display filter with AND",
            "Conversations", "tree"),
    # -- frame details ----------------------------------------------------------------------
    Command("field_and", "a", "add_filter('AND')", "Filter AND", "Add 'Field == value' to the filter with AND",
            "Frame details", "detail", True),
    Command("field_or", "o", "add_filter('OR')", "Filter OR", "Add 'Field == value' to the filter with OR",
            "Frame details", "detail", True),
    Command("field_column", "i", "add_column", "Add column", "Add this field as a frame list column",
            "Frame details", "detail", True),
    Command("field_copy", "y", "copy('value')", "Copy value", "Copy the field's value (OSC 52 clipboard)",
            "Frame details", "detail", True),
    Command("field_copy_line", "Y", "copy('line')", "Copy line", "Copy 'Field: value'", "Frame details",
            "detail"),
    Command("field_expand_all", "asterisk,E", "expand_everything", "Expand all",
            "Open every layer and field of the frame (kept for the next frames)", "Frame details", "detail"),
    Command("field_collapse_all", "X", "collapse_everything", "Collapse all",
            "Close every layer and field of the frame", "Frame details", "detail"),
    # -- hex --------------------------------------------------------------------------------
    Command("hex_left", "left,h", "move(-1)", "Byte left", "Previous byte", "Hex", "hex", palette=False),
    Command("hex_right", "right,l", "move(1)", "Byte right", "Next byte", "Hex", "hex", palette=False),
    Command("hex_up", "up,k", "move(-16)", "Line up", "Byte one line up", "Hex", "hex", palette=False),
    Command("hex_down", "down,j", "move(16)", "Line down", "Byte one line down", "Hex", "hex", palette=False),
    # -- timeline ---------------------------------------------------------------------------
    Command("timeline_left", "left,h", "move(-1)", "Earlier", "Previous time bucket", "Timeline", "timeline",
            palette=False),
    Command("timeline_right", "right,l", "move(1)", "Later", "Next time bucket", "Timeline", "timeline",
            palette=False),
    Command("timeline_jump", "enter", "jump", "Jump to bucket", "Select the first frame of the time bucket",
            "Timeline", "timeline", palette=False),
)

BY_ID: dict[str, Command] = {c.id: c for c in COMMANDS}
assert len(BY_ID) == len(COMMANDS), "command ids must be unique"
#: the actions of typeahead commands (their keys are text while a text box has focus)
TYPEAHEAD_ACTIONS: frozenset[str] = frozenset(c.action for c in COMMANDS if c.typeahead)


def in_scope(scope: str) -> Iterable[Command]:
    return (c for c in COMMANDS if c.scope == scope)


def bindings(scope: str) -> list[Binding]:
    """The ``BINDINGS`` of the node that owns ``scope``."""
    return [c.binding() for c in in_scope(scope)]


def keys_for(command: Command, keymap: Mapping[str, str]) -> str:
    """The keys a command is bound to now (the user's keymap wins over the default)."""
    return keymap.get(command.id, command.keys)


_DISPLAY = {
    "question_mark": "?", "slash": "/", "right_square_bracket": "]", "left_square_bracket": "[",
    "greater_than_sign": ">", "less_than_sign": "<", "plus": "+", "minus": "-", "space": "space",
    "pageup": "PgUp", "pagedown": "PgDn", "escape": "Esc", "enter": "Enter",
}


def key_label(keys: str) -> str:
    """``"f1,question_mark"`` → ``"F1 ?"`` for the help screen and palette."""
    out = []
    for k in keys.split(","):
        k = k.strip()
        if not k:
            continue
        if k in _DISPLAY:
            out.append(_DISPLAY[k])
        elif k.startswith("f") and k[1:].isdigit():
            out.append(k.upper())
        elif "+" in k:
            out.append("+".join(_DISPLAY.get(p, p.capitalize() if len(p) > 1 else p) for p in k.split("+")))
        else:
            out.append(k if len(k) == 1 else k.capitalize())
    return " ".join(out)
