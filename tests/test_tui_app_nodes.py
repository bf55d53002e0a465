"""The conversation tree's SMB2 and HTTP nodes in the running app: a TCP conversation opens onto its
trees, files and hosts (computed in the tree's worker when expanded), selecting one narrows the frame
list to it, ``f`` puts its filter in the filter bar, and collapsing or leaving stops a computation
still running."""

from __future__ import annotations

import asyncio
import threading

from conftest import sample
from tracemon.tui import app_nodes
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tracemon.tui.widgets.conversation_tree import ConversationTree
from tui_support import async_test, idle_workers, settle

FASOD = "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"
HTTP = "netmon/DERIVED_tcpreplay_test.netmon2.cap"
BIG = (160, 50)


def _screen(app: TracemonApp) -> TraceScreen:
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    return screen


async def _open(app, pilot, node) -> None:
    """Expand ``node`` and wait for its children (the worker, then the message it posts)."""
    node.expand()
    await pilot.pause()
    await idle_workers(app)
    await pilot.pause()
    assert node.children and node.children[0].data is not None, node.label


def _child(node, start: str):
    return next(n for n in node.children if n.data is not None and n.data.label.startswith(start))


@async_test
async def test_smb2_tree_and_file_nodes_narrow_the_list_and_give_their_filter():
    app = TracemonApp([str(sample(FASOD))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        tree = screen.query_one(ConversationTree)
        ipv4 = _child(tree.root, "IPv4")
        await _open(app, pilot, ipv4)
        pair = _child(ipv4, "192.168.0.2 ↔ 192.168.0.101")
        await _open(app, pilot, pair)
        conv = _child(pair, "TCP 445 ↔ 61338")
        await _open(app, pilot, conv)
        labels = [n.data.label for n in conv.children]
        assert labels == ["SMB2 \\\\sut01\\IPC$", "SMB2 \\\\sut01\\FASODShare"]
        share = conv.children[1]
        await _open(app, pilot, share)
        files = [n.data.label for n in share.children]
        assert files == ["(share root) (13 opens)", "ExistentTxt.txt (7 opens)"]
        # selecting the share narrows the list to its frames
        tree.focus()
        tree.move_cursor(share)
        tree.select_node(share)
        await settle(app, pilot)
        rows = share.data.rows
        assert screen.view.displayed().tolist() == rows.tolist()
        assert "SMB2.Header.TreeId == 0x5" in screen.status.status.scope
        # f adds the node's filter to the display filter: the same frames
        await pilot.press("f")
        await settle(app, pilot)
        assert screen.filter_text == share.data.filter
        assert screen.view.displayed().tolist() == rows.tolist()
        await pilot.press("a")  # all traffic: the filter alone selects them too
        await settle(app, pilot)
        assert screen.view.displayed().tolist() == rows.tolist()


@async_test
async def test_http_host_nodes():
    app = TracemonApp([str(sample(HTTP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        tree = _screen(app).query_one(ConversationTree)
        ipv4 = _child(tree.root, "IPv4")
        await _open(app, pilot, ipv4)
        pair = _child(ipv4, "96.17.211.172 ↔ 172.16.11.12")
        await _open(app, pilot, pair)
        conv = _child(pair, "TCP 80 ↔ 64584")
        assert conv.allow_expand
        await _open(app, pilot, conv)
        assert [n.data.label for n in conv.children] == ["HTTP a.fsdn.com (2 requests)"]
        assert (conv.children[0].data.rows + 1).tolist() == [80, 121]
        resolver = _child(ipv4, "172.16.11.1 ↔ 172.16.11.12")
        await _open(app, pilot, resolver)
        dns = _child(resolver, "UDP 53")
        assert not dns.allow_expand  # nothing but TCP conversations carrying SMB2 or HTTP opens


@async_test
async def test_collapsing_or_leaving_stops_the_computation(monkeypatch):
    started = threading.Event()
    cancels: list[threading.Event] = []
    real = app_nodes.children

    def held(trace, scope, cancel=None):
        cancels.append(cancel)
        started.set()
        cancel.wait(60)  # held until cancelled (the bound only keeps a broken test from hanging)
        return real(trace, scope, cancel)

    monkeypatch.setattr(app_nodes, "children", held)
    app = TracemonApp([str(sample(FASOD))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        tree = _screen(app).query_one(ConversationTree)
        ipv4 = _child(tree.root, "IPv4")
        await _open(app, pilot, ipv4)
        pair = _child(ipv4, "192.168.0.2 ↔ 192.168.0.101")
        await _open(app, pilot, pair)
        conv = _child(pair, "TCP 445 ↔ 61338")
        conv.expand()
        await asyncio.to_thread(started.wait, 60)
        conv.collapse()
        await pilot.pause()
        assert cancels[0].is_set()
        await idle_workers(app)
        await pilot.pause()
        assert not conv.children  # nothing half-loaded stays
        started.clear()
        conv.expand()  # opened again: computed again
        await asyncio.to_thread(started.wait, 60)
        assert len(cancels) == 2 and not cancels[1].is_set()
        app.exit()
    assert cancels[1].is_set()  # leaving stopped it

