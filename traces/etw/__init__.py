"""ETW: Windows event trace (.etl) files.

Reading: ``reader`` (buffers → index, rows → frames), ``records`` (record headers, the index
pass), ``xpress`` (compressed buffers), ``packets`` (packets inside NDIS/PktMon events).
Decoding: ``decode`` (one event → names, message, field tree) over ``payload`` (the template
interpreter), ``schema`` (bundled and user schemas), ``manifest``/``symbols`` (user files),
``tracelogging`` (self-describing events) and ``naming`` (Netmon names).  ``writer`` and ``demo``
write ETL files for tests, benchmarks and the built-in demo trace.
"""
