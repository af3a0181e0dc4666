"""What the CUPS queue adds: ``lp`` → CUPS job completed, against the same document uploaded to
labeld directly and followed to printed (what ``labelctl print --wait`` does).

    sudo .venv/bin/python -m benchmarks.bench_cups_queue [--labels 1,20] [--rounds 5]

Needs root (cupsd runs the backend as ``lp``) and CUPS (``scripts/setup.sh test``). The printer is
the ZPL emulator at 5 m/s, so the printer's own speed is not what is measured; both paths print
the same labels, each a fresh posting (labeld would hold a repeat as a duplicate).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cups

from labeld.cli.client import Client
from labeld.cli.follow import event_mark, follow
from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import TcpServer
from labeld.testing.zpl_emulator import make_emulator
from tests.cups_helpers import PPD, cupsd_with_labeld

IPP_JOB_COMPLETED = 9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default="1,20", help="labels per document, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    counts = [int(n) for n in args.labels.split(",")]
    root = Path(tempfile.mkdtemp(prefix="labeld-bench-cups-"))
    root.chmod(0o755)
    zebra = TcpServer(make_emulator(root / "zebra", speed_mm_s=5000.0))
    printer = {"name": "zd420", "driver": "zpl", "uri": zebra.uri, "media": "75x120mm", "dpi": 203, "default": True}
    daemon = DaemonProcess(root / "labeld", printers=[printer], sections={"daemon": {"submit_users": ["lp"]}})
    daemon.start()
    cupsd = cupsd_with_labeld(daemon.socket, wait=300)
    try:
        cupsd.add_queue("ozon", "labeld:/zd420", ppd=PPD, options={"printer-error-policy": "abort-job"})
        client = Client(daemon.socket)
        connection = cups.Connection(host=cupsd.server)
        first = 50000000
        print("| labels | direct upload → printed (median s) | lp → CUPS completed (median s) | added by CUPS |")
        print("|---:|---:|---:|---:|")
        for count in counts:
            direct, queued = [], []
            for _ in range(args.rounds):
                pdf = batch_pdf(count, first_posting=first)
                first += count
                started = time.monotonic()
                mark = event_mark(client)
                ids = [int(i) for i in client.upload(pdf, {"name": "direct.pdf"})["job_ids"]]
                follow(client, ids, mark)
                direct.append(time.monotonic() - started)
                path = root / "lp.pdf"
                path.write_bytes(batch_pdf(count, first_posting=first))
                first += count
                started = time.monotonic()
                job = int(re.findall(r"ozon-(\d+)", cupsd.run("lp", "-d", "ozon", str(path)))[0])
                while connection.getJobAttributes(job, requested_attributes=["job-state"])["job-state"] \
                        != IPP_JOB_COMPLETED:
                    time.sleep(0.02)
                queued.append(time.monotonic() - started)
            d, q = statistics.median(direct), statistics.median(queued)
            print(f"| {count} | {d:.2f} | {q:.2f} | {q - d:+.2f} |")
    finally:
        cupsd.stop()
        daemon.stop()
        zebra.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
