"""Network printer status over SNMP and idle probes, in process: real emulators, agents, drivers.

Each emulator fault switch must arrive as the right printer-state reason through the MIB; an idle
printer is asked now and then and shows ``offline`` (and back) without any job; the config refuses
SNMP settings that cannot work, naming the key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.bitmap import to_png
from labeld.config import PrinterConfig, parse_config
from labeld.daemon.printer_worker import PrinterCondition, PrinterWorker
from labeld.drivers.base import Driver
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.drivers.zpl import ZplDriver
from labeld.errors import ConfigError
from labeld.labelmaker import LabelSpec
from labeld.reasons import Reason
from labeld.spool.spool import NewDocument, NewLabel, Spool
from labeld.spool.states import JobState
from labeld.spool.store import DocumentStore
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, Fault, PrinterCore, TcpServer
from labeld.testing.snmp_agent import SnmpAgent, V3User
from labeld.testing.zpl_emulator import ZplCore
from tests.conftest import render

FAULT_REASONS = {"paper-out": "media-empty", "cover-open": "cover-open", "jam": "media-jam", "offline": "offline"}


class Plugged:
    """An emulator on TCP with its SNMP agent, torn down by the fixture."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.parts: list[TcpServer | SnmpAgent | Emulator] = []

    def printer(self, core: PrinterCore, faults: tuple[Fault, ...] = (), snmp: bool = True,
                **agent: object) -> tuple[Emulator, TcpServer, SnmpAgent | None]:
        emulator = Emulator(core, self.tmp_path / f"out{len(self.parts)}", speed_mm_s=5000.0, faults=faults)
        tcp = TcpServer(emulator)
        snmp_agent = SnmpAgent(emulator, **agent) if snmp else None  # type: ignore[arg-type]
        self.parts += [p for p in (snmp_agent, tcp, emulator) if p is not None]
        return emulator, tcp, snmp_agent

    def close(self) -> None:
        for part in self.parts:
            if not isinstance(part, Emulator):
                part.stop()
        for part in self.parts:
            if isinstance(part, Emulator):
                part.close()


@pytest.fixture
def plugged(tmp_path: Path) -> Iterator[Plugged]:
    rig = Plugged(tmp_path)
    yield rig
    rig.close()


def config(uri: str, agent: SnmpAgent | None, driver: str = "brother_ql", media: str = "62x29",
           **keys: object) -> PrinterConfig:
    snmp = {"snmp": agent.address, "status": "snmp"} if agent else {"status": "none"}
    return PrinterConfig(name="p", driver=driver, uri=uri, media=media, **{**snmp, **keys})  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", sorted(FAULT_REASONS))
@pytest.mark.parametrize("language", ["brother_ql", "zpl"])
def test_each_fault_switch_arrives_as_its_reason_over_snmp(plugged: Plugged, fault: str, language: str) -> None:
    """paper-out, cover-open, jam, offline: the MIB (and Brother's object) say it, the driver stops;
    cleared, the printer is ready again — no print connection opened for any of it."""
    core: PrinterCore = BrotherQLCore(media="62x29") if language == "brother_ql" else ZplCore()
    emulator, tcp, agent = plugged.printer(core, (Fault(fault, 0),))
    driver_type = BrotherQLDriver if language == "brother_ql" else ZplDriver
    driver: Driver[object] = driver_type(config(tcp.uri, agent, language, "62x29" if language == "brother_ql"
                                                else "75x120mm"))  # type: ignore[assignment]
    stopped = driver.probe()
    assert FAULT_REASONS[fault] in stopped.reasons and stopped.blocked, stopped
    assert "the printer says" in stopped.message
    emulator.clear_fault()
    ready = driver.probe()
    assert ready.reasons == () and not ready.blocked and ready.page_counter == 1000
    assert not [e for e in emulator.events if e["event"] == "connected"]


def test_slow_printing_is_busy_and_the_counter_counts_decoded_labels(plugged: Plugged) -> None:
    """While a label comes out (``slow``) the printer is busy; the counter goes up per decoded label."""
    emulator, tcp, agent = plugged.printer(BrotherQLCore(media="62x29"), (Fault("slow"),), counter_start=10)
    emulator.speed_mm_s = 20.0
    driver = BrotherQLDriver(config(tcp.uri, agent))
    device = driver.connect()
    device.open()
    device.write(driver.encode(render(LabelSpec(size_mm=(58.0, 22.5)), driver.geometry), 2))
    assert emulator.wait_labels(1, timeout=10)
    assert driver.probe().busy
    assert emulator.wait_labels(2, timeout=30)
    device.close()
    assert driver.probe().page_counter == 12


def test_v3_users_at_each_security_level_read_the_mib(plugged: Plugged, tmp_path: Path) -> None:
    """noAuthNoPriv, authNoPriv (SHA) and authPriv (SHA/AES) users read the same counter; keys come
    from files."""
    users = (V3User("plain"), V3User("signed", "auth-key-0001"), V3User("secret", "auth-key-0002", "priv-key-0002"))
    _, tcp, agent = plugged.printer(BrotherQLCore(media="62x29"), users=users)
    for name, key in (("a1", "auth-key-0001"), ("a2", "auth-key-0002"), ("p2", "priv-key-0002")):
        secret_file(tmp_path / name, key)
    for keys in ({"snmp_user": "plain"}, {"snmp_user": "signed", "snmp_auth_key_file": tmp_path / "a1"},
                 {"snmp_user": "secret", "snmp_auth_key_file": tmp_path / "a2", "snmp_priv_key_file": tmp_path / "p2"}):
        assert BrotherQLDriver(config(tcp.uri, agent, **keys)).probe().page_counter == 1000


def test_short_v3_key_and_unreadable_secret_file_name_the_key(tmp_path: Path) -> None:
    """USM keys need 8 characters; a secret file that cannot be read is named, its content never."""
    secret_file(tmp_path / "short", "seven77")
    with pytest.raises(ValueError, match="snmp_auth_key_file: an SNMPv3 key needs at least 8"):
        BrotherQLDriver(config("tcp://127.0.0.1:9", None, status="snmp", snmp_user="u",
                               snmp_auth_key_file=tmp_path / "short"))
    with pytest.raises(ValueError, match=r"snmp_community_file: .*missing does not exist") as error:
        BrotherQLDriver(config("tcp://127.0.0.1:9", None, status="snmp", snmp_community_file=tmp_path / "missing"))
    assert "seven77" not in str(error.value)


def test_media_width_from_the_printer_mib_is_checked(plugged: Plugged) -> None:
    """A QL whose card lacks Brother's status object still reports the roll's width in the Printer
    MIB: 62 mm loaded against a 29 mm configuration is a mismatch; the right width is not."""

    class PlainCard(BrotherQLCore):
        def snmp_status(self) -> bytes | None:
            return None

    _, tcp, agent = plugged.printer(PlainCard(media="62"))
    wrong = BrotherQLDriver(config(tcp.uri, agent, media="29"))
    status = wrong.probe()
    assert status.media is not None and status.media.describe() == "62 mm wide"
    reason = wrong.media_mismatch(status)
    assert reason is not None and reason.code == "printer.media_mismatch" and "62 mm wide" in reason.text()
    assert BrotherQLDriver(config(tcp.uri, agent, media="62")).media_mismatch(status) is None


def secret_file(path: Path, value: str) -> Path:
    """A one-line secret, readable by its owner only (labeld refuses anything looser)."""
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def worker_for(driver: Driver[object], tmp_path: Path) -> PrinterWorker:
    spool = Spool(tmp_path / "spool.db")
    return PrinterWorker(driver.printer, driver, spool, DocumentStore(tmp_path / "store"))


def probe_until(worker: PrinterWorker, condition: PrinterCondition, reasons: tuple[str, ...]) -> None:
    for _ in range(200):
        assert worker.step() is None  # nothing to print: idle
        if (worker.state.state, worker.state.reasons) == (condition, reasons):
            return
        time.sleep(0.02)
    raise AssertionError(f"printer stayed {worker.state.state} {worker.state.reasons}")


def test_idle_write_only_printer_is_probed_by_connecting(plugged: Plugged, tmp_path: Path) -> None:
    """A Brother QL on TCP without SNMP: switched off → ``offline`` with the connection error; on
    again (same port) → idle. No job is needed for either."""
    emulator, tcp, _ = plugged.printer(BrotherQLCore(media="62x29"), snmp=False)
    worker = worker_for(BrotherQLDriver(config(tcp.uri, None, probe_interval=0.01)), tmp_path)
    probe_until(worker, PrinterCondition.IDLE, ())
    tcp.stop()
    probe_until(worker, PrinterCondition.STOPPED, ("offline",))
    assert "cannot connect" in worker.state.message.text()
    plugged.parts.append(TcpServer(emulator, port=int(tcp.uri.rsplit(":", 1)[1])))
    probe_until(worker, PrinterCondition.IDLE, ())


def test_idle_zpl_printer_out_of_paper_shows_it_before_a_job(plugged: Plugged, tmp_path: Path) -> None:
    """A Zebra on TCP answers ``~HS`` to the idle probe: paper out shows ``media-empty`` at once."""
    emulator, tcp, _ = plugged.printer(ZplCore(), (Fault("paper-out", 0),), snmp=False)
    worker = worker_for(ZplDriver(config(tcp.uri, None, "zpl", "75x120mm", probe_interval=0.01)), tmp_path)
    probe_until(worker, PrinterCondition.STOPPED, ("media-empty",))
    emulator.clear_fault()
    probe_until(worker, PrinterCondition.IDLE, ())


def test_snmp_silent_but_tcp_alive_is_status_unknown_never_ready(plugged: Plugged, tmp_path: Path) -> None:
    """The agent stops while port 9100 still takes connections: idle with ``status-unknown``; both
    gone: ``offline``."""
    _, tcp, agent = plugged.printer(BrotherQLCore(media="62x29"))
    assert agent is not None
    worker = worker_for(BrotherQLDriver(config(tcp.uri, agent, probe_interval=0.01)), tmp_path)
    probe_until(worker, PrinterCondition.IDLE, ())
    agent.stop()
    probe_until(worker, PrinterCondition.IDLE, ("status-unknown",))
    assert worker.state.message.code == "printer.status_unknown"
    tcp.stop()
    probe_until(worker, PrinterCondition.STOPPED, ("offline",))


@pytest.mark.parametrize(("keys", "problem"), [
    ({"status": "snmp", "uri": "usb://0x04f9:0x209d"}, "status: \"snmp\" is for brother_ql and zpl printers on tcp://"),
    ({"snmp": "printer:99999"}, "snmp: 'printer:99999': the port must be a number"),
    ({"snmp_community_file": "/nonexistent/community"}, "snmp_community_file: /nonexistent/community does not exist"),
    ({"snmp_auth_key_file": "/etc/hostname"}, "snmp_user: SNMPv3 keys are given, but no snmp_user"),
    ({"snmp_user": "u", "snmp_priv_key_file": "/etc/hostname"}, "privacy needs authentication too"),
    ({"status_lost": "pray"}, "status_lost: 'pray' is not one of"),
])
def test_config_refuses_snmp_settings_that_cannot_work(keys: dict[str, str], problem: str) -> None:
    """Each broken SNMP setting is an error naming its key."""
    printer = {"name": "ql", "driver": "brother_ql", "uri": "tcp://printer:9100", "media": "62", **keys}
    text = "[[printer]]\n" + "".join(f'{k} = "{v}"\n' for k, v in printer.items())
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert problem in str(error.value)


def test_zebra_with_snmp_status_is_confirmed_by_its_counter(plugged: Plugged, tmp_path: Path) -> None:
    """A ZD420 with ``status = "snmp"``: the worker records the counter before each label and confirms
    each one when the counter rose by its copies (3 copies → +3), printed dot for dot."""
    emulator, tcp, agent = plugged.printer(ZplCore(), counter_start=50)
    driver = ZplDriver(config(tcp.uri, agent, "zpl", "58x40mm"))
    worker = worker_for(driver, tmp_path)
    now = time.time()
    jobs = worker.spool.add_document(NewDocument("z", "z.pdf", "test", 100, 2),
                                     [NewLabel(0, "p", now, now + 3600, copies=3), NewLabel(1, "p", now, now + 3600)],
                                     "test")
    bitmaps = {}
    for n, job in enumerate(jobs):
        bitmaps[job] = render(LabelSpec(size_mm=(54.0, 36.0), posting=f"5555000{n}-0001-1"), driver.geometry)
        worker.store.put_bitmap(job, to_png(bitmaps[job]))
        worker.spool.transition(job, JobState.READY, Reason("job.ready_raw", printer="p"))
    for _ in range(20):
        if worker.spool.counts()[JobState.PRINTED] == 2:
            break
        worker.step()
    printed = [worker.spool.job(job) for job in jobs]
    assert all(job is not None and job.state == JobState.PRINTED and job.confirmed for job in printed)
    sending = [next(e.reason for e in worker.spool.history(job) if e.to_state == JobState.PRINTING) for job in jobs]
    assert [(r.code, r.params["counter"], r.params["labels"]) for r in sending] == [
        ("job.sending_counted", 50, 3), ("job.sending_counted", 53, 1)]
    assert len(emulator.labels) == 4
    assert [bool((label == bitmaps[job]).all()) for label, job in zip(emulator.labels, [jobs[0]] * 3 + [jobs[1]],
                                                                        strict=True)] == [True] * 4
