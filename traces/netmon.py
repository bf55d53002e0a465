"""Netmon (placeholder until the reader lands)."""
def detect(head: bytes) -> bool:
    return head[:4] in (b"GMBU", b"RTSS")
class NetmonReader:  # noqa: D101
    def __init__(self, trace):
        from .errors import TraceError
        raise TraceError(trace.path, "Netmon .cap is not supported yet", 0)
