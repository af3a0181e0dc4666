"""What SNMP status costs a Wi-Fi QL: one status read, a 20-label batch with and without it, and how
soon a switched-off idle printer shows ``offline``.

    .venv/bin/python -m benchmarks.bench_snmp [--reads 200] [--labels 20] [--speed 176]

The printer is the QL-820NWB emulator on TCP with its SNMP agent (pysnmp) on loopback, in this
process; the daemon is a real ``labeld run`` in a child process. A read is the status labeld makes
before every label (10 objects, plus the alert table when something is wrong). The batch runs at the
QL-820NWB's own speed (176 mm/s), so "overhead" is batch time over pure print time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from labeld.credentials import Secret
from labeld.devices.snmp import SnmpCredentials, SnmpTarget, shared_client
from labeld.drivers.printer_mib import read_mib
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, TcpServer
from labeld.testing.snmp_agent import SnmpAgent, V3User

DIE_CUT_MM = (62.0, 29.0)


def reads(agent: SnmpAgent, count: int) -> dict[str, Any]:
    """Median and 95th percentile of one status read, v2c and v3 authPriv (SHA/AES)."""
    host, port = agent.host, agent.port
    targets = {"v2c": SnmpTarget(host, port),
               "v3 authPriv": SnmpTarget(host, port, SnmpCredentials(user="bench", auth_key=Secret("bench-auth-1"),
                                                                      priv_key=Secret("bench-priv-1")))}
    out = {}
    for name, target in targets.items():
        read_mib(shared_client(), target, brother=True)  # warm-up (v3: engine discovery)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            read_mib(shared_client(), target, brother=True)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        out[name] = {"median_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * count)], 2)}
    return out


def batch(root: Path, emulator: Emulator, tcp: TcpServer, agent: SnmpAgent, labels: int, status: str,
          first: int) -> dict[str, Any]:
    printer = {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": tcp.uri, "media": "62x29",
               "default": True, "status": status, "snmp": agent.address}
    daemon = DaemonProcess(root / f"labeld-{status}", printers=[printer]).start()
    try:
        specs = [LabelSpec(posting=f"{first + n:08d}-0001-1", size_mm=DIE_CUT_MM,
                           symbols=(Symbol("code128", f"{first + n:08d}-0001-1", 2.0, 2.0, 0.254, height_mm=8.0),))
                 for n in range(labels)]
        before = len(emulator.labels)
        start = time.monotonic()
        daemon.drop("batch.pdf", label_pdf(specs))
        daemon.wait_states(labels, timeout=600)
        seconds = time.monotonic() - start
        confirmed = sum(bool(j["confirmed"]) for j in daemon.jobs())
    finally:
        daemon.stop()
    pure = labels * DIE_CUT_MM[1] / emulator.speed_mm_s
    return {"status": status, "labels": len(emulator.labels) - before, "seconds": round(seconds, 2),
            "pure_print_s": round(pure, 2), "overhead_pct": round(100 * (seconds - pure) / pure, 1),
            "confirmed": confirmed}


def offline_after(root: Path, emulator: Emulator, interval: str) -> float:
    """Seconds from switching printer (TCP and SNMP) off until ``labelctl printers`` says offline."""
    tcp = TcpServer(emulator)
    agent = SnmpAgent(emulator)
    printer = {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": tcp.uri, "media": "62x29",
               "default": True, "status": "snmp", "snmp": agent.address, "probe_interval": interval}
    daemon = DaemonProcess(root / f"labeld-offline-{interval}", printers=[printer]).start()
    try:
        daemon.wait_for(lambda: daemon.printer("ql")["loaded_media"] is not None, 30, "first probe")
        start = time.monotonic()
        tcp.stop()
        agent.stop()
        daemon.wait_for(lambda: daemon.printer("ql")["reasons"] == ["offline"], 120, "offline")
        return round(time.monotonic() - start, 2)
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--speed", type=float, default=176.0, help="print speed in mm/s (QL-820NWB: 176)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="labeld-bench-snmp-"))
    emulator = Emulator(BrotherQLCore(media="62x29"), root / "out", speed_mm_s=args.speed)
    tcp = TcpServer(emulator)
    agent = SnmpAgent(emulator, users=(V3User("bench", "bench-auth-1", "bench-priv-1"),))
    try:
        print("| status read | median ms | p95 ms |\n|---|---:|---:|")
        for name, row in reads(agent, args.reads).items():
            print(f"| {name} | {row['median_ms']} | {row['p95_ms']} |")
        print("\n| batch | labels | seconds | pure print s | overhead % | confirmed |\n|---|---:|---:|---:|---:|---:|")
        for n, status in enumerate(("none", "snmp")):
            row = batch(root, emulator, tcp, agent, args.labels, status, 70000000 + 1000 * n)
            print(f"| status = \"{status}\" | {row['labels']} | {row['seconds']} | {row['pure_print_s']} | "
                  f"{row['overhead_pct']} | {row['confirmed']} |")
    finally:
        agent.stop()
        tcp.stop()
    print("\n| idle printer switched off | probe_interval | seconds until offline |\n|---|---:|---:|")
    for interval in ("1s", "10s"):
        print(f"| TCP and SNMP gone | {interval} | {offline_after(root, emulator, interval)} |")
    emulator.close()


if __name__ == "__main__":
    main()
