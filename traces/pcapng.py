"""pcapng (placeholder until the reader lands)."""
def detect(head: bytes) -> bool:
    return head[:4] == b"\x0a\x0d\x0d\x0a"
class PcapngReader:  # noqa: D101
    def __init__(self, trace):
        from .errors import TraceError
        raise TraceError(trace.path, "pcapng is not supported yet", 0)
