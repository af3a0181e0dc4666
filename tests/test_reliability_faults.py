"""Printer faults over time: paper out, cover open, a cut connection mid-label and a slow head,
thrown at two printers by a seeded driver while a few hundred labels go through."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from reliability_helpers import inject_fault, sized

from labeld.labelmaker import batch_pdf
from labeld.testing.crash import count_postings, make_tcp_emulator, printer_table
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, TcpServer

SEED = int(os.environ.get("LABELD_FAULT_SEED", "1126"))
KINDS = ("paper-out", "cover-open", "disconnect", "slow")


class FaultDriver(threading.Thread):
    """Throws a random fault at one emulator every few tenths of a second, and clears it again
    after a while, as a packer would reload paper or close the cover."""

    def __init__(self, emulator: Emulator, rng: random.Random) -> None:
        super().__init__(name=f"faults-{emulator.name}", daemon=True)
        self.emulator = emulator
        self.rng = rng
        self.done = threading.Event()
        self.thrown: Counter[str] = Counter()

    def run(self) -> None:
        while not self.done.wait(self.rng.uniform(0.1, 0.5)):
            kind = self.rng.choice(KINDS)
            inject_fault(self.emulator, kind, after_more=self.rng.randint(0, 2))
            self.thrown[kind] += 1
            if kind in ("paper-out", "cover-open", "slow"):
                self._clear_later(kind)

    def _clear_later(self, kind: str) -> None:
        for _ in range(30 if kind != "slow" else 0):
            if self.emulator.error is not None or self.done.wait(0.1):
                break
        self.done.wait(self.rng.uniform(0.1, 0.8))
        self.emulator.clear_fault()


def _postings(jobs: list[dict[str, Any]], where: dict[tuple[str, int], str], printer: str) -> dict[str, dict[str, Any]]:
    return {where[(j["document"], j["page"])]: j for j in jobs if j["printer"] == printer}


def test_faults_over_time_every_label_prints_in_order(tmp_path: Path) -> None:
    """Every label prints, in order per printer; a second copy only where labeld flagged the label.
    The one exception is the write-only Brother link (see the loop below), and labeld says so."""
    rng = random.Random(SEED)
    per_printer, pages = sized(100, 1000), 25
    emulators = {lang: make_tcp_emulator(lang, tmp_path / lang, 3000.0) for lang in ("zpl", "brother_ql")}
    servers = {lang: TcpServer(emu) for lang, emu in emulators.items()}
    tables = [{**printer_table(lang, servers[lang].uri), "default": lang == "zpl"} for lang in emulators]
    names = {lang: table["name"] for lang, table in zip(emulators, tables, strict=True)}
    drivers = [FaultDriver(emu, random.Random(rng.random())) for emu in emulators.values()]
    daemon = DaemonProcess(tmp_path / "labeld", printers=tables, sections={"preflight": {"verify_barcodes": False}})
    where: dict[tuple[str, int], str] = {}
    try:
        daemon.start()
        for driver in drivers:
            driver.start()
        for lang, name in names.items():
            for batch in range(per_printer // pages):
                first = 40_000_000 + (lang == "zpl") * 1_000_000 + batch * pages
                document = f"{name}-{batch:03d}.pdf"
                size = (75.0, 120.0) if lang == "zpl" else (62.0, 100.0)  # ~40 KB a label on 62 mm tape
                daemon.drop(document, batch_pdf(pages, first_posting=first, size_mm=size), folder=name)
                where.update({(document, i): f"{first + i:08d}-0001-1" for i in range(pages)})
        total = len(where)
        daemon.wait_states(total, ("printed",), timeout=sized(150, 1200))
        for driver in drivers:
            driver.done.set()
            driver.join(10)
        jobs = daemon.jobs()
    finally:
        for driver in drivers:
            driver.done.set()
        daemon.kill()
        for lang, server in servers.items():
            server.stop()
            emulators[lang].close()
    thrown = sum((d.thrown for d in drivers), Counter())
    print(f"{total} labels, faults thrown {dict(thrown)}, interrupted {sum(j['interrupted'] for j in jobs)}")
    assert [j for j in jobs if j["state"] != "printed"] == []
    assert set(thrown) == set(KINDS)
    for lang, emulator in emulators.items():
        by_posting = _postings(jobs, where, names[lang])
        printed, unreadable = count_postings(emulator.labels)
        assert unreadable == 0
        lost = set(by_posting) - set(printed)
        assert set(printed) <= set(by_posting)
        # ZPL confirms with ~HS, so a label the printer dropped is seen and sent again: none may be
        # missing. On write-only TCP (Brother) labeld half-closes after each label and waits for the
        # printer to close, so a cut after the bytes left labeld is still seen; but a printer whose
        # cover opens just after it read a label's last byte drops that label (Brother: "if an error
        # occurs, all data read from the computer is cleared") and still closes cleanly. labeld cannot
        # see that over a link that never answers, and must not claim otherwise: such a label may be
        # missing only if the printer itself dropped one then, and its job says it was not confirmed.
        not_printed = sum(e["event"] == "not-printed" for e in emulator.events)
        if lang == "zpl":
            assert lost == set(), f"{lang}: labels missing"
        else:
            assert len(lost) <= not_printed, f"{lang}: labels missing that the printer never dropped"
            assert [by_posting[p]["confirmed"] for p in lost] == [0] * len(lost)
        extra = {p: n for p, n in printed.items() if n > 1}
        assert all(by_posting[p]["interrupted"] for p in extra), f"{lang}: unflagged duplicates {extra}"
        order = [by_posting[p]["id"] for p in _read_order(emulator)]
        assert order == sorted(order), f"{lang}: printed out of order"
        assert any(e["event"] == "fault" for e in emulator.events)
        print(f"{lang}: {len(emulator.labels)} printed, {len(extra)} duplicates, {len(lost)} lost "
              f"({not_printed} dropped by the printer in a fault), "
              f"{sum(e['event'] == 'disconnected' for e in emulator.events)} cuts")
    disconnects = sum(e["event"] == "disconnected" for emu in emulators.values() for e in emu.events)
    assert disconnects == 0 or "job_interrupted" in daemon.log_text()


def _read_order(emulator: Emulator) -> list[str]:
    from labeld.testing.crash import count_postings

    return [next(iter(count_postings([label])[0])) for label in emulator.labels]
