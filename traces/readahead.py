"""A capture's packet records found while a one-shot command is still loading its modules.

A cold ``tracemon count`` spends about half its time importing NumPy, pyparsing and the filter
compiler on one core.  ``start`` maps the trace as soon as the command knows its path and walks
its records on a thread, on the machine's other core, while the readers and the compiler load:
C calls without the interpreter lock (``chains.pcap_ahead``: every record's offset and the start
of its header; ``chains.pcapng_ahead``: the first run of Enhanced Packet Blocks).  The ``Trace``
that opens the path takes the map over (``mapfile.take_early``), and its reader takes those
records instead of walking them itself, in the batches it would have made; what the walk ahead
did not reach (``READ_AHEAD``, a block it stopped at) is walked as before, so the index is the
same.

Nothing is read ahead when the index cache holds the trace: the walk would read the whole file
the cache spares.  ``mapfile.discard_early`` closes what no ``Trace`` took (a command that
failed before it opened its trace).
"""

from __future__ import annotations

import threading

from . import cache, chains
from .errors import TraceError
from .mapfile import Early, _mapguard, close_early, map_file, put_early
from .pipeline import Ahead

#: records read ahead at most (pcap: 20 bytes each, an offset and a header's first 12 bytes;
#: pcapng: an 8-byte offset); about what the imports leave time for on a 2-core machine
READ_AHEAD = 1 << 20


def start(path: str) -> None:
    """Map ``path`` and start finding its records on a thread: pcap and pcapng files whose index
    is not cached, when the C walk was built.  Any problem is left to the command's own open, which
    says what is wrong."""
    try:
        f, buf, size, mtime_ns = map_file(path)
    except TraceError:
        return
    walk, trace_format = chains.pcap_ahead(buf, READ_AHEAD), "pcap"
    if walk is None:
        walk, trace_format = chains.pcapng_ahead(buf, READ_AHEAD), "pcapng"
    if walk is None or cache.holds(path, size, mtime_ns, trace_format):
        buf.close()
        f.close()
        return
    records = Ahead(*walk)
    early = Early(f, buf, size, mtime_ns, _mapguard.watch(buf) if _mapguard is not None else 0, records)
    try:
        threading.Thread(target=records.run, name="tracemon-readahead", daemon=True).start()
    except RuntimeError:  # no thread to be had: the reader walks the records itself
        early.records = None
        close_early(early)
        return
    if not put_early(path, early):  # (started already: this one goes, once its walk is over)
        close_early(early)
