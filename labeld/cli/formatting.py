"""How ``labelctl`` shows things to a person: aligned tables, "3 min ago", "expires in 47 min".

Everything here takes the daemon's JSON (as documented in labeld/api/openapi.yaml) and a
``now``, and returns text, so the output can be tested without a daemon or a clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from labeld.durations import format_duration

PENDING = {"queued", "ready", "printing", "held"}
REASON_WIDTH = 60


def ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = now - moment
    if abs(seconds) < 2:
        return "just now"
    return f"{format_duration(seconds)} ago" if seconds > 0 else f"in {format_duration(seconds)}"


def expiry(expires_at: float, now: float) -> str:
    left = expires_at - now
    return f"expires in {format_duration(left)}" if left > 0 else f"expired {format_duration(left)} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def shorten(text: str, width: int = REASON_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def job_when(job: dict[str, Any], now: float) -> str:
    """For a job still to print, how long its label stays valid; else when it last changed."""
    if job["state"] in PENDING and not job["forced"]:
        return expiry(job["label"]["expires_at"], now)
    return ago(job["updated_at"], now)


def jobs_table(jobs: Sequence[dict[str, Any]], now: float) -> str:
    if not jobs:
        return "no jobs"
    rows = [
        (str(j["id"]), j["state"], j["printer"], j["label"]["posting_number"] or "-",
         f"{j['document']['name']} p{j['label']['page']}", job_when(j, now), shorten(j["reason"]))
        for j in jobs
    ]
    return table(("JOB", "STATE", "PRINTER", "POSTING", "DOCUMENT", "WHEN", "REASON"), rows)


def job_detail(job: dict[str, Any], now: float) -> str:
    label, document = job["label"], job["document"]
    lines = [
        f"job {job['id']}: {job['state']} on {job['printer']} — {job['reason']}",
        f"  label {label['id']}: page {label['page']} of {document['name']} ({document['source']})",
        f"  posting {label['posting_number'] or '-'}, tracking {label['tracking_number'] or '-'}",
        f"  issued {ago(label['issued_at'], now)}, {expiry(label['expires_at'], now)}",
        f"  copies {job['copies']}, attempts {job['attempts']}, confirmed {'yes' if job['confirmed'] else 'no'}"
        + (", forced" if job["forced"] else ""),
    ]
    lines.extend(preflight_lines(label.get("preflight") or {}))
    if job.get("reprint_of"):
        lines.append(f"  reprint of job {job['reprint_of']}")
    if job.get("reprints"):
        lines.append(f"  reprinted as job{'s' if len(job['reprints']) > 1 else ''} "
                     + ", ".join(str(i) for i in job["reprints"]))
    lines.append("history:")
    for event in job.get("history", []):
        lines.append(f"  {clock_time(event['at'])}  {event['from'] or 'new'} → {event['to']}: {event['reason']}")
    return "\n".join(lines)


def preflight_lines(record: dict[str, Any]) -> list[str]:
    """The pre-flight record in a few lines: fit, barcodes (and what was redrawn), warnings."""
    if not record:
        return []
    lines = ["pre-flight:"]
    if record.get("fit"):
        lines.append(f"  fit: {record['fit']}")
    for barcode in record.get("barcodes", []):
        state = "ok" if barcode.get("robust") else ("reads, not robust" if barcode.get("verified") else "FAILS")
        redrawn = f", redrawn at {barcode['repaired_dots']} dots/module" if barcode.get("repaired") else ""
        lines.append(f"  {barcode['symbology']} {barcode['value']}: {state} "
                     f"({barcode['dots_per_module']:g} dots/module{redrawn})")
    for image in record.get("images", []):
        lines.append(f"  image {image['pixels'][0]}×{image['pixels'][1]} px at {image['dpi']:g} dpi")
    for finding in record.get("findings", []):
        if finding.get("severity") in ("warn", "fail"):
            lines.append(f"  {finding['severity']}: {finding['reason']}")
    for key in ("expiring", "clock"):
        if record.get(key):
            lines.append(f"  {key}: {record[key]}")
    return lines


def printers_table(printers: Sequence[dict[str, Any]], now: float) -> str:
    if not printers:
        return "no printers are configured"
    rows = [
        (p["name"] + (" *" if p.get("default") else ""), p["state"], ",".join(p["reasons"]) or "-",
         str(p.get("waiting", 0)), str(p.get("held", 0)), str(p["printed"]), ago(p["since"], now),
         p["message"] or "")
        for p in printers
    ]
    return table(("PRINTER", "STATE", "REASONS", "WAITING", "HELD", "PRINTED", "SINCE", "MESSAGE"), rows)


def clock_text(clock: dict[str, Any], now: float) -> str:
    offset = clock.get("offset")
    measured = f"offset {offset:+.3f} s" if offset is not None else "offset not measured"
    lines = [f"clock {clock['state']}: {measured} (threshold {clock['threshold']:g} s), "
             f"checked {ago(clock.get('checked_at'), now)}"]
    if clock.get("reason"):
        lines.append(f"  {clock['reason']}")
    for source in clock.get("sources", []):
        lines.append("  " + "  ".join(f"{key} {value}" for key, value in source.items() if value is not None))
    return "\n".join(lines)


def status_text(status: dict[str, Any], now: float) -> str:
    counts = {state: n for state, n in status["jobs"].items() if n}
    jobs = ", ".join(f"{n} {state}" for state, n in counts.items()) or "none"
    lines = [
        f"labeld {status['version']}, up {format_duration(status['uptime'])}: {status['summary']}",
        f"jobs: {jobs}",
        "",
        printers_table(status["printers"], now),
    ]
    if status.get("sources"):
        lines += ["", sources_table(status["sources"], now)]
    if status.get("clock"):
        lines += ["", clock_text(status["clock"], now)]
    return "\n".join(lines)


def sources_table(sources: Sequence[dict[str, Any]], now: float) -> str:
    """One line per marketplace source, then the trouble of each source in trouble, in full."""
    if not sources:
        return "no marketplace sources are configured ([[source]] in the config)"
    rows = []
    for s in sources:
        postings = s["postings"]
        next_poll = "paused" if s["paused"] else ago(s["next_poll"], now)
        rows.append((s["name"], s["type"], s["state"], ago(s["last_poll"], now), next_poll, str(postings["seen"]),
                     str(postings["waiting"]), str(postings["fetched"]), str(postings["printed"]),
                     shorten((s["last_error"] or {}).get("reason") or "-")))
    lines = [table(("SOURCE", "TYPE", "STATE", "LAST POLL", "NEXT POLL", "SEEN", "WAITING", "FETCHED", "PRINTED",
                    "LAST ERROR"), rows)]
    for s in sources:
        if s.get("trouble"):
            lines.append(f"source {s['name']} in trouble since {ago(s['trouble_since'], now)}: "
                         f"{s['trouble']['reason']}")
    return "\n".join(lines)


def fetch_text(answer: dict[str, Any], now: float) -> str:
    """What ``labelctl fetch`` did for one posting."""
    posting = answer["posting"]
    line = f"posting {posting['posting']} ({answer['source']}): {posting['state']}"
    if posting.get("reason"):
        line += f" — {posting['reason']}"
    jobs = answer.get("jobs") or []
    if jobs:
        line += "\n" + jobs_table(jobs, now)
    return line


def event_line(event: dict[str, Any]) -> str:
    where = f" on {event['printer']}" if event.get("printer") else ""
    posting = f" ({event['posting']})" if event.get("posting") else ""
    return (f"{clock_time(event['at'])}  job {event['job']}{where}{posting}: {event['from'] or 'new'} → "
            f"{event['to']} — {event['reason']}")


def clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def job_ids(ids: Sequence[int]) -> str:
    """``jobs 4–6`` for a run, ``jobs 4, 9`` otherwise, ``job 4`` for one."""
    if len(ids) == 1:
        return f"job {ids[0]}"
    if list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"jobs {ids[0]}–{ids[-1]}"
    return "jobs " + ", ".join(str(i) for i in ids)
