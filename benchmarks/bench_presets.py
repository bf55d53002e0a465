"""Every standard preset on generated traces: the first evaluation (field columns built on the
way, none kept from an earlier run), how many frames it had to decode, and ``tshark -Y`` with the
equivalent filter where there is one.  A preset that decodes many frames is the one to look at.

    python benchmarks/bench_presets.py [--web 300000] [--apps 200000] [--frames 1000000]
                                       [--no-tshark] [--only NAME ...]

Traces (``gen_traces.py``, made once into ``benchmarks/out/``): "web" (DNS, HTTP, TLS incl. RDP's
port, ICMP, ARP), "apps" (SMB2, Kerberos, LDAP, NBNS, MSRPC, tunnels) and the 1M-frame mixed pcap.
The index comes from the cache (indexing is not part of the figures).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_traces import cached
from timing import timed, tshark

#: preset → tshark equivalent (only the ones with a faithful one)
TSHARK = {
    "HTTP requests": "http.request",
    "HTTP errors": "http.response.code >= 400",
    "TLS handshakes and alerts": "tls.handshake || tls.record.content_type == 21",
    "TLS alerts": "tls.record.content_type == 21",
    "TCP options": "tcp.hdr_len > 20",
    "TCP resets": "tcp.flags.reset == 1",
    "DNS": "dns || mdns",  # mDNS is DNS in tracemon (Netmon), its own protocol in Wireshark
    "SMB errors": "smb2.nt_status >= 0xC0000000 && smb2.nt_status != 0xC0000016",
}


def table(path: Path, only: list[str], use_tshark: bool) -> None:
    from tracemon.filters import PresetStore, compile_filter, indexed
    from tracemon.traces import open_trace
    from tracemon.traces.cache import field_column_dir

    trace = open_trace(path)
    folder = field_column_dir(trace)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # columns kept by an earlier run: the first use builds
    n = len(trace)
    print(f"\n{path.name}: {n:,} frames")
    print(f"{'preset':<46} {'matches':>9} {'decoded':>9} {'first s':>8} {'frames/s':>13} {'tshark s':>9} {'tshark':>8}")
    for preset in PresetStore().standard():
        if only and not any(o.lower() in preset.name.lower() for o in only):
            continue
        cf = compile_filter(preset.expression, trace=trace)
        indexed._STATES.pop(trace, None)  # conversation arrays and properties: built by the first use
        hits, s = timed(lambda cf=cf: cf.evaluate(trace))
        ws = TSHARK.get(preset.name) if use_tshark else None
        # (Wireshark leaves the payload of segments it calls retransmissions undissected; Netmon and
        # tracemon dissect every segment)
        ts = tshark(path, ws, "tcp.no_subdissector_on_error:FALSE") if ws else None
        flag = "" if ts is None or ts[1] == int(hits.sum()) else "  COUNT DIFFERS"
        ts_s, ts_n = (f"{ts[0]:>9.1f}", f"{ts[1]:>8}") if ts else (f"{'-':>9}", f"{'-':>8}")
        print(f"{preset.name:<46} {int(hits.sum()):>9} {cf.last_stats.decoded:>9} {s:>8.3f} "
              f"{n / max(s, 1e-9):>13,.0f} {ts_s} {ts_n}{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--web", type=int, default=300_000)
    ap.add_argument("--apps", type=int, default=200_000)
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--only", nargs="*", default=[], help="presets whose names contain one of these")
    a = ap.parse_args()
    for path in (cached("pcap", a.web, traffic="web"), cached("pcap", a.apps, traffic="apps"),
                 cached("pcap", a.frames)):
        table(path, a.only, not a.no_tshark)


if __name__ == "__main__":
    main()
