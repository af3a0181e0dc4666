"""How ``labelctl`` shows things to a person: aligned tables, "3 min ago", "expires in 47 min", alarms.

Everything here takes the daemon's JSON (as documented in labeld/api/openapi.yaml) and a
``now``, and returns text, so the output can be tested without a daemon or a clock. Words follow
the reader's language (``LANG``): fixed words through :func:`_` (marked for the catalogues, see
:mod:`labeld.i18n`), reasons rendered from their code with :func:`reason_text`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from labeld.i18n import gettext, language_from_env, translations
from labeld.reasons import Reason, format_duration

PENDING = {"queued", "ready", "printing", "held"}
#: The REASON column's width when the terminal's is not known.
REASON_WIDTH = 60
#: The narrowest a REASON column is cut to on a narrow terminal.
MIN_REASON_WIDTH = 20
#: In the jobs table a printed job's reason is only how sure labeld is; ``labelctl show`` says the rest.
SHORT_REASONS = {"job.printed_confirmed": "confirmed",
                 "job.printed_unconfirmed": "not confirmed"}
RED, BOLD, RESET = "\033[31m", "\033[1m", "\033[0m"


def _(message: str) -> str:
    """``message`` in the reader's language (``LANG``/``LC_*``); English where there is no catalogue."""
    return gettext(language_from_env(), message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form (as the reader's language counts) of a message about ``n`` things."""
    return translations(language_from_env()).ngettext(singular, plural, n)


def reason_text(value: Mapping[str, Any], field: str = "reason") -> str:
    """A reason in the reader's language, from the daemon's JSON: ``reason`` with ``reason_code`` and
    ``reason_params`` (``field`` names another trio, e.g. a printer's ``message``), or a stored
    reason's own ``{"code", "params", "text"}``. Words without a code are shown as they are."""
    code, params, words = value.get(f"{field}_code"), value.get(f"{field}_params"), value.get(field)
    if code is None and "code" in value:
        code, params, words = value["code"], value.get("params"), value.get("text")
    if not code:
        return str(words or "")
    return Reason.from_json({"code": code, "params": params or {}, "text": words or ""}).text(language_from_env())


def reading_kind(kind: str) -> str:
    """How a scanned code was read, in words: posting, tracking number, barcode, job."""
    words = {"posting": _("posting"), "tracking": _("tracking number"), "barcode": _("barcode value"),
             "job": _("job")}
    return words.get(kind, kind)


def duration(seconds: float) -> str:
    return format_duration(seconds, language_from_env())


def ago(moment: float | None, now: float) -> str:
    if moment is None:
        return _("never")
    seconds = now - moment
    if abs(seconds) < 2:
        return _("just now")
    return (_("{duration} ago") if seconds > 0 else _("in {duration}")).format(duration=duration(seconds))


def expiry(expires_at: float, now: float) -> str:
    left = expires_at - now
    return (_("expires in {duration}") if left > 0 else _("expired {duration} ago")).format(duration=duration(left))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None) -> str:
    """Columns padded to their widest cell; the last column is not padded, and is cut to ``width``
    (the terminal's) where one is given."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    room = None
    if width is not None:
        room = max(MIN_REASON_WIDTH, width - sum(w + 2 for w in widths[:-1]))
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        last = str(row[-1]) if room is None else shorten(str(row[-1]), room)
        lines.append("  ".join([*cells, last]).rstrip())
    return "\n".join(lines)


def shorten(text: str, width: int = REASON_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def alarm_mark(color: bool) -> str:
    """How an alarm is marked at the start of its line: ``!! ALARM``, red and bold on a colour terminal."""
    mark = "!! " + _("ALARM")
    return f"{BOLD}{RED}{mark}{RESET}" if color else mark


# ----- jobs -----------------------------------------------------------------------------------


def job_when(job: dict[str, Any], now: float) -> str:
    """For a job still to print, how long its label stays valid; else when it last changed."""
    if job["state"] in PENDING and not job["forced"]:
        return expiry(job["label"]["expires_at"], now)
    return ago(job["updated_at"], now)


def job_reason_short(job: Mapping[str, Any]) -> str:
    """A job's reason for a table cell: the short form of a long routine one."""
    short = SHORT_REASONS.get(str(job.get("reason_code")))
    return _(short) if short else reason_text(job)


def jobs_table(jobs: Sequence[dict[str, Any]], now: float, width: int | None = None) -> str:
    if not jobs:
        return _("no jobs")
    rows = [
        (str(j["id"]), j["state"], j["printer"], j["label"]["posting_number"] or "-",
         f"{j['document']['name']} p{j['label']['page']}", job_when(j, now), job_reason_short(j))
        for j in jobs
    ]
    headers = (_("JOB"), _("STATE"), _("PRINTER"), _("POSTING"), _("DOCUMENT"), _("WHEN"), _("REASON"))
    return table(headers, rows, width)


def job_detail(job: dict[str, Any], now: float) -> str:
    label, document = job["label"], job["document"]
    lines = [
        _("job {id}: {state} on {printer} — {reason}").format(id=job["id"], state=job["state"],
                                                               printer=job["printer"], reason=reason_text(job)),
        "  " + _("label {id}: page {page} of {name} ({source})").format(
            id=label["id"], page=label["page"], name=document["name"], source=document["source"]),
        "  " + _("posting {posting}, tracking {tracking}").format(posting=label["posting_number"] or "-",
                                                                   tracking=label["tracking_number"] or "-"),
        "  " + _("issued {when}, {expiry}").format(when=ago(label["issued_at"], now),
                                                   expiry=expiry(label["expires_at"], now)),
        "  " + _("copies {copies}, attempts {attempts}, confirmed {confirmed}").format(
            copies=job["copies"], attempts=job["attempts"], confirmed=_("yes") if job["confirmed"] else _("no"))
        + (", " + _("forced") if job["forced"] else ""),
    ]
    link = job.get("link")
    if link:
        state = {"waiting": _("not fetched yet"), "fetched": _("fetched"),
                 "failed": _("gave no label")}.get(link["state"], link["state"])
        lines.append("  " + _("link {url}: {state}, {attempts} attempt(s)").format(
            url=link["url"], state=state, attempts=link["attempts"])
            + (f" ({link['last_error']})" if link.get("last_error") and link["state"] != "fetched" else ""))
    if job.get("override"):
        lines.append("  " + _("override by {by}: {why}").format(**job["override"]))
    if job.get("needs_ack"):
        lines.append("  " + _("RELABEL: this printed label was voided by a newer one; `labelctl ack {id}` once "
                              "the parcel has its new label").format(id=job["id"]))
    lines.extend(preflight_lines(label.get("preflight") or {}))
    if job.get("reprint_of"):
        lines.append("  " + _("reprint of job {id}").format(id=job["reprint_of"]))
    if job.get("reprints"):
        lines.append("  " + _("reprinted as jobs {ids}").format(ids=", ".join(str(i) for i in job["reprints"])))
    lines.append(_("history:"))
    for event in job.get("history", []):
        lines.append(f"  {clock_time(event['at'])}  {event['from'] or _('new')} → {event['to']}: "
                     f"{reason_text(event)}")
    return "\n".join(lines)


def preflight_lines(record: dict[str, Any]) -> list[str]:
    """The pre-flight record in a few lines: fit, barcodes (and what was redrawn), warnings."""
    if not record:
        return []
    lines = [_("pre-flight:")]
    if record.get("fit_reason"):
        lines.append("  " + _("fit: {fit}").format(fit=reason_text(record["fit_reason"])))
    elif record.get("fit"):
        lines.append("  " + _("fit: {fit}").format(fit=record["fit"]))
    for barcode in record.get("barcodes", []):
        state = _("ok") if barcode.get("robust") else (_("reads, not robust") if barcode.get("verified")
                                                        else _("FAILS"))
        redrawn = (", " + _("redrawn at {dots} dots/module").format(dots=barcode["repaired_dots"])
                   if barcode.get("repaired") else "")
        lines.append(f"  {barcode['symbology']} {barcode['value']}: {state} "
                     f"({barcode['dots_per_module']:g} {_('dots/module')}{redrawn})")
    for image in record.get("images", []):
        lines.append("  " + _("image {w}×{h} px at {dpi:g} dpi").format(w=image["pixels"][0], h=image["pixels"][1],
                                                                        dpi=image["dpi"]))
    for finding in record.get("findings", []):
        if finding.get("severity") in ("warn", "fail"):
            lines.append(f"  {finding['severity']}: {reason_text(finding)}")
    for key, word in (("expiring", _("expiring")), ("clock", _("clock"))):
        if record.get(key):
            lines.append(f"  {word}: {record[key]}")
    return lines


def job_ids(ids: Sequence[int]) -> str:
    """``jobs 4–6`` for a run, ``jobs 4, 9`` otherwise, ``job 4`` for one."""
    if len(ids) == 1:
        return _("job {id}").format(id=ids[0])
    if list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return _("jobs {first}–{last}").format(first=ids[0], last=ids[-1])
    return _("jobs {ids}").format(ids=", ".join(str(i) for i in ids))


# ----- printers, clock, status ----------------------------------------------------------------


def printers_table(printers: Sequence[dict[str, Any]], now: float, width: int | None = None) -> str:
    if not printers:
        return _("no printers are configured")
    rows = [
        (p["name"] + (" *" if p.get("default") else ""), p["state"], ",".join(p["reasons"]) or "-",
         str(p.get("waiting", 0)), str(p.get("held", 0)), str(p["printed"]), ago(p["since"], now),
         reason_text(p, "message"))
        for p in printers
    ]
    headers = (_("PRINTER"), _("STATE"), _("REASONS"), _("WAITING"), _("HELD"), _("PRINTED"), _("SINCE"),
               _("MESSAGE"))
    return table(headers, rows, width)


def seconds(value: float | None, signed: bool = False) -> str:
    """Seconds to the millisecond: ``+7.003 s``, ``0.012 s``."""
    if value is None:
        return "-"
    return f"{value:+.3f} s" if signed else f"{value:.3f} s"


def clock_text(clock: dict[str, Any], now: float) -> str:
    offset = clock.get("offset")
    measured = (_("offset {offset}").format(offset=seconds(offset, signed=True)) if offset is not None
                else _("offset not measured"))
    lines = [_("clock {state}: {measured} (threshold {threshold:g} s), checked {when}").format(
        state=clock["state"], measured=measured, threshold=clock["threshold"], when=ago(clock.get("checked_at"), now))]
    if clock.get("reason"):
        lines.append(f"  {reason_text(clock)}")
    for source in clock.get("sources", []):
        parts = [source["name"], source.get("kind") or ""]
        if source.get("offset") is not None:
            parts.append(_("offset {offset}").format(offset=seconds(source["offset"], signed=True)))
        if source.get("delay") is not None:
            parts.append(_("delay {delay}").format(delay=seconds(source["delay"])))
        parts += [source.get("detail") or "", source.get("error") or ""]
        lines.append("  " + "  ".join(part for part in parts if part))
    return "\n".join(lines)


def alarm_lines(alarms: Sequence[dict[str, Any]], now: float, color: bool = False) -> list[str]:
    """One line per alarm, marked, with what clears it."""
    lines = []
    for alarm in alarms:
        line = f"{alarm_mark(color)}  {reason_text(alarm)}"
        if alarm.get("since"):
            line += f" ({ago(alarm['since'], now)})"
        if alarm["kind"] == "rejected":
            line += " — " + _("`labelctl ack --rejected {id}` once dealt with").format(id=alarm["rejected"])
        lines.append(line)
    return lines


def status_text(status: dict[str, Any], now: float, width: int | None = None, color: bool = False) -> str:
    counts = {state: n for state, n in status["jobs"].items() if n}
    jobs = ", ".join(f"{n} {state}" for state, n in counts.items()) or _("none")
    lines = [f"labeld {status['version']}, " + _("up {uptime}: {summary}").format(uptime=duration(status["uptime"]),
                                                                                 summary=status["summary"])]
    alarms = status.get("alarms") or []
    if alarms:
        lines += ["", ngettext("{n} alarm — needs a person now:", "{n} alarms — need a person now:",
                               len(alarms)).format(n=len(alarms)),
                  *alarm_lines(alarms, now, color)]
    lines += ["", _("jobs: {jobs}").format(jobs=jobs)]
    if "rejected_today" in status:
        lines.append(_("files rejected today: {n}").format(n=status["rejected_today"])
                     + (" (`labelctl rejected`)" if status["rejected_today"] else ""))
    lines += ["", printers_table(status["printers"], now, width)]
    if status.get("sources"):
        lines += ["", sources_table(status["sources"], now, width)]
    if status.get("clock"):
        lines += ["", clock_text(status["clock"], now)]
    return "\n".join(lines)


def sources_table(sources: Sequence[dict[str, Any]], now: float, width: int | None = None) -> str:
    """One line per marketplace source, then the trouble of each source in trouble, in full."""
    if not sources:
        return _("no marketplace sources are configured ([[source]] in the config)")
    rows = []
    for s in sources:
        postings = s["postings"]
        next_poll = _("paused") if s["paused"] else ago(s["next_poll"], now)
        rows.append((s["name"], s["type"], s["state"], ago(s["last_poll"], now), next_poll, str(postings["seen"]),
                     str(postings["waiting"]), str(postings["fetched"]), str(postings["printed"]),
                     reason_text(s["last_error"]) if s["last_error"] else "-"))
    headers = (_("SOURCE"), _("TYPE"), _("STATE"), _("LAST POLL"), _("NEXT POLL"), _("SEEN"), _("WAITING"),
               _("FETCHED"), _("PRINTED"), _("LAST ERROR"))
    lines = [table(headers, rows, width)]
    for s in sources:
        if s.get("trouble"):
            lines.append(_("source {name} in trouble since {when}: {reason}").format(
                name=s["name"], when=ago(s["trouble_since"], now), reason=reason_text(s["trouble"])))
    return "\n".join(lines)


def fetch_text(answer: dict[str, Any], now: float, width: int | None = None) -> str:
    """What ``labelctl fetch`` did for one posting."""
    posting = answer["posting"]
    line = _("posting {posting} ({source}): {state}").format(posting=posting["posting"], source=answer["source"],
                                                             state=posting["state"])
    if posting.get("reason"):
        line += f" — {reason_text(posting)}"
    jobs = answer.get("jobs") or []
    if jobs:
        line += "\n" + jobs_table(jobs, now, width)
    return line


def rejected_table(records: Sequence[dict[str, Any]], now: float, width: int | None = None) -> str:
    if not records:
        return _("no files were rejected")
    rows = [(str(r["id"]), ago(r["at"], now), r["file"], r["source"] + (f" ({r['folder']}/)" if r["folder"] else ""),
             r["acknowledged_by"] or "-", r["moved_to"] or "-", reason_text(r)) for r in records]
    headers = (_("ID"), _("WHEN"), _("FILE"), _("SOURCE"), _("ACKNOWLEDGED BY"), _("MOVED TO"), _("REASON"))
    return table(headers, rows, width)


# ----- the event stream -----------------------------------------------------------------------


def event_line(event: dict[str, Any], color: bool = False) -> str:
    """One line per event, of any kind; alarms marked so that they stand out in a scrolling terminal."""
    at = clock_time(event["at"])
    kind = event.get("kind", "job")
    if kind == "job" or (kind == "alarm" and event.get("job") is not None and not event.get("alarm")):
        where = " " + _("on {printer}").format(printer=event["printer"]) if event.get("printer") else ""
        posting = f" ({event['posting']})" if event.get("posting") else ""
        text = (f"{_('job {id}').format(id=event['job'])}{where}{posting}: {event['from'] or _('new')} → "
                f"{event['to']} — {reason_text(event)}")
    elif kind == "alarm" and event.get("job") is not None:
        text = _("job {id}: {reason}").format(id=event["job"], reason=reason_text(event))
    elif kind == "clock":
        text = _("clock {state}: {reason}").format(state=event["to"], reason=reason_text(event))
    elif kind == "rejected":
        text = _("file {file} rejected: {reason}").format(file=event.get("file"), reason=reason_text(event))
        if event.get("moved_to"):
            text += " — " + _("moved to {path}").format(path=event["moved_to"])
    elif event.get("rejected") is not None:
        text = _("rejected file {file}: {reason}").format(file=event.get("file"), reason=reason_text(event))
    else:
        text = reason_text(event)
    if event.get("alarm"):
        return f"{at}  {alarm_mark(color)}  {text}"
    return f"{at}  {text}"


def clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))
