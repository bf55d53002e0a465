"""A pcap file's records found while a one-shot command is still loading its modules.

A cold ``tracemon count`` spends about half its time importing NumPy, pyparsing and the filter
compiler on one core.  ``start`` maps the trace as soon as the command knows its path and finds
its records on a thread (``pcap.chain_ahead``: each record's offset and the start of its header,
two C calls without the interpreter lock), on the machine's other core, while the compiler loads.
The ``Trace`` that opens the path takes the map over (``mapfile.take_early``), and its reader
yields those records instead of walking the chain itself; what the walk ahead did not reach
(``READ_AHEAD``, or a record it stopped at) is walked as before, so the index is the same.

Nothing is read ahead when the index cache holds the trace: the walk would read the whole file
the cache spares.  ``mapfile.discard_early`` closes what no ``Trace`` took (a command that
failed before it opened its trace).
"""

from __future__ import annotations

import threading

from . import cache, pcap, pcapng
from .errors import TraceError
from .mapfile import Early, _mapguard, close_early, map_file, put_early
from .pipeline import Ahead

#: records read ahead at most (20 bytes each: an offset, a header's first 12 bytes); about what
#: the imports leave time for on a 2-core machine; the reader walks the rest
READ_AHEAD = 1 << 20


def start(path: str) -> None:
    """Map ``path`` and start finding its records on a thread: pcap files whose index is not
    cached, when the C walk was built.  Any problem is left to the command's own open, which
    says what is wrong."""
    try:
        f, buf, size, mtime_ns = map_file(path)
    except TraceError:
        return
    walk, trace_format = pcap.chain_ahead(buf, READ_AHEAD), "pcap"
    if walk is None:
        walk, trace_format = pcapng.chain_ahead(buf, READ_AHEAD), "pcapng"
    if walk is None or cache.holds(path, size, mtime_ns, trace_format):
        buf.close()
        f.close()
        return
    records = Ahead(*walk)
    early = Early(f, buf, size, mtime_ns, _mapguard.watch(buf) if _mapguard is not None else 0, records)
    if not put_early(path, early):  # (started already: this one goes)
        records = early.records = None
        close_early(early)
        return
    threading.Thread(target=records.run, name="tracemon-readahead", daemon=True).start()
