"""ETW payload decoding: import and registration cost, and decode_event throughput per event kind.

    python benchmarks/bench_etw_decode.py [--repeat 3]

Import and first registration run in fresh interpreters (what ``import tracemon.traces`` and the
first ETW filter or ETL open pay).  Throughput: synthetic VmSwitch / NDIS records (built like the
tests build them) and, when the shared samples are present, every event of the PktMon and
TraceLogging sample files through the real ETL reader.  Prints one table.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tracemon.traces.etw.records import EVENT_HEADER_LAYOUT, EventRecord, parse_record

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples" / "etl"


def fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def record(provider: uuid.UUID, eid: int, payload: bytes, keyword: int = 0) -> EventRecord:
    size = EVENT_HEADER_LAYOUT.size + len(payload)
    head = EVENT_HEADER_LAYOUT.pack(size, 0x13, 0xC0, 0, 0, 1, 2, 0, provider.bytes_le, eid, 0, 0, 4, 0, 0, keyword, 0, 0, bytes(16))
    return parse_record(head + payload)


def ustr(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode("utf-16-le")


def synthetic() -> dict[str, list]:
    vms = uuid.UUID("67dc0d66-3695-47c0-9642-33f76f7bd7ad")
    ndis = uuid.UUID("2ed6006e-4729-4609-b423-3ee7bcd678ef")
    names = ustr("3C3B1A2F-0D2E-4B5C-9C1B-2F6B2D1A0E11--5A6B") + ustr("VM01 Network Adapter")
    sw = ustr("A7E2B8D4-1C1F-4E2B-8E55-6D1B0C5F2A90") + ustr("External vSwitch")
    frame = bytes(range(256)) * 6
    return {
        "VmSwitch 58 VM_NBL_DELIVER": [record(vms, 58, names + sw + struct.pack("<Q", 0xFFFF_A000_1234))] * 20000,
        "VmSwitch 57 VM_NBL_ROUTE": [record(vms, 57, names + names + sw + struct.pack("<Q", 1))] * 20000,
        "NDIS 1001 (1536-byte frame)": [record(ndis, 1001, struct.pack("<III", 3, 3, len(frame)) + frame + bytes(16),
                                               0x200000001)] * 20000,
    }


def samples() -> dict[str, tuple[object, list]]:
    from tracemon.traces import open_trace

    out = {}
    for name, label in (("pktmon_vpn_20210601.etl", "PktMon sample (pktmon_vpn)"),
                        ("etlparser_AMSITrace.etl", "TraceLogging sample (AMSI)"),
                        ("perfview_primitive-types.etl", "TraceLogging sample (primitive types)")):
        path = SAMPLES / name
        if not path.exists():
            continue
        trace = open_trace(path, use_cache=False)
        recs = [trace.reader.record(i) for i in range(len(trace))]
        recs = [r for r in recs if r.header_type in (0x12, 0x13)]
        out[label] = (trace, recs)
    return out


def rate(recs: list, trace: object, repeat: int) -> float:
    from tracemon.traces.etw.decode import decode_event

    for r in recs[:50]:
        decode_event(r, trace)  # warm the caches (templates, registry names)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for r in recs:
            decode_event(r, trace)
        best = min(best, (time.perf_counter() - t0) / len(recs))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = fresh("import time; t=time.perf_counter(); import tracemon.traces; print(time.perf_counter()-t)")
    etw = fresh("import tracemon.traces, time; t=time.perf_counter(); import tracemon.traces.etw.decode; "
                "print(time.perf_counter()-t)")
    reg = fresh("import tracemon.traces.etw.decode, time; from tracemon.traces import REGISTRY; "
                "from tracemon.traces.etw.naming import ensure_registered; t=time.perf_counter(); "
                "ensure_registered(REGISTRY); print(time.perf_counter()-t)")
    print(f"{'what':44} {'events':>8} {'µs/event':>9} {'events/s':>10}")
    print(f"{'import tracemon.traces':44} {'':>8} {base * 1e3:8.1f}ms")
    print(f"{'  + import tracemon.traces.etw.decode':44} {'':>8} {etw * 1e3:8.1f}ms")
    print(f"{'  first ensure_registered (bundled names)':44} {'':>8} {reg * 1e3:8.1f}ms")
    for label, recs in synthetic().items():
        per = rate(recs, None, args.repeat)
        print(f"{label:44} {len(recs):8} {per * 1e6:9.1f} {1 / per:10.0f}")
    for label, (trace, recs) in samples().items():
        per = rate(recs, trace, args.repeat)
        print(f"{label:44} {len(recs):8} {per * 1e6:9.1f} {1 / per:10.0f}")


if __name__ == "__main__":
    main()
