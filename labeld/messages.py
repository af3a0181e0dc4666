"""Every reason labeld tells a person, by code: the English source text of the catalogues.

A :class:`labeld.reasons.Reason` names one of these codes and carries the parameters of its
template; the words are made when the reason is shown (see :mod:`labeld.reasons` for the format
specs). A code, once stored in a spool, is a contract: change its words freely, never its
meaning or its parameters' names; add a new code instead.

Add codes in the block of their area. ``tests/test_reasons.py`` checks that every code used in
the source exists here with the parameters its template needs.
"""

from __future__ import annotations

from labeld.i18n import N_

MESSAGES: dict[str, str] = {
    # ----- words with no code of their own, and units -------------------------------------
    "text": "{text}",
    "unit.seconds": N_("{n} s"),
    "unit.minutes": N_("{n} min"),
    "unit.hours": N_("{n} h"),
    "unit.hours_minutes": N_("{h} h {m} min"),
    "unit.days": N_("{n} d"),
    # ----- intake: why a file is refused whole ----------------------------------------------
    "intake.empty": N_("the file is empty (0 bytes)"),
    "intake.not_pdf": N_("not a PDF: the file does not start with %PDF- (nor is it ZPL, PNG or SVG)"),
    "intake.unreadable_pdf": N_("unreadable PDF: {error}"),
    "intake.encrypted": N_("the PDF is password-protected; labeld cannot print encrypted PDFs"),
    "intake.no_pages": N_("the PDF has no pages"),
    "intake.too_many_pages": N_("the PDF has {pages} pages; intake.max_pages allows {limit}"),
    "intake.page_unreadable": N_("page {page} cannot be read: {error}"),
    "intake.page_no_area": N_("page {page} has no area ({width:.0f}×{height:.0f} mm)"),
    "intake.page_too_large": N_("page {page} is {width:.0f}×{height:.0f} mm, larger than any label "
                                "(intake.max_page_mm = {limit:g}); it was not rendered"),
    "intake.too_big": N_("the file is {size} bytes; intake.max_file_size allows {limit}"),
    "intake.spool_full": N_("the spool disk has {free_mb} MB free and labeld keeps {reserve_mb} MB in reserve; "
                            "new labels wait until space is freed"),
    "intake.cannot_store": N_("cannot store the document in the spool: {error}"),
    "intake.zpl_needs_zpl_printer": N_("a ZPL file can only go to a ZPL printer; {printer!r} is a {driver} printer"),
    "intake.unknown_folder": N_("inbox/{folder}/ is neither a printer's folder nor one a [[route]] names; folders: "
                                "{printers:list}"),
    "intake.unknown_printer_requested": N_("the sidecar or request asks for printer {printer!r}, which is not "
                                           "configured (printers: {printers:list})"),
    "sidecar.too_big": N_("sidecar is {size} bytes; at most {limit} are read"),
    "sidecar.not_json": N_("sidecar is not valid JSON: {error}"),
    "sidecar.not_object": N_('sidecar must be a JSON object like {{"copies": 1}}'),
    "sidecar.unknown_keys": N_("sidecar has unknown keys {keys:list}; known: {known:list}"),
    "sidecar.invalid": N_("sidecar: {problems:reasons}"),
    "sidecar.bad_copies": N_("copies must be a whole number from 1 to {limit}, not {value}"),
    "sidecar.bad_string": N_("{key} must be a non-empty string, not {value}"),
    "sidecar.bad_issued_at": N_("issued_at: {error}"),
    "sidecar.bad_choice": N_("{key} must be one of {choices:list}, not {value}"),
    # ----- rendering --------------------------------------------------------------------------
    "task.render_pdf": N_("rendering the PDF"),
    "task.render_page": N_("rendering page {page}"),
    "task.open_pdf": N_("opening the PDF"),
    "task.start_worker": N_("starting the render worker"),
    "render.timeout": N_("{task:reason} took longer than {limit:g} s and was stopped; the PDF may be damaged or "
                         "built to hang a renderer"),
    "render.memory": N_("{task:reason} needed more than {limit_mb} MB and was stopped; the PDF may be damaged or "
                        "built to exhaust memory"),
    "render.memory_unlimited": N_("{task:reason} needed more than the available memory and was stopped; the PDF "
                                  "may be damaged or built to exhaust memory"),
    "render.crashed": N_("{task:reason} crashed the render worker ({how}); the PDF may be damaged"),
    "render.failed": N_("{task:reason} failed: {error}"),
    "render.unsendable": N_("{task:reason}: the worker's answer could not be sent back ({error})"),
    "render.page_failed": N_("page {page} could not be rendered: {error}"),
    "render.scaled": N_("content {width:.0f}×{height:.0f} mm does not fit {media} (printable {printable:.1f} mm "
                        "wide): scaled to {zoom:.0%}"),
    "fit": "{parts:parts}",
    "fit.cropped": N_("cropped to content"),
    "fit.whole_page": N_("whole page"),
    "fit.turned": N_("turned 90°"),
    "fit.true_size": N_("true size"),
    "fit.scaled": N_("scaled to {zoom:.0%}"),
    # ----- pre-flight -------------------------------------------------------------------------
    "preflight.low_dpi_barcode": N_("barcode image at {dpi:g} dpi; Ozon requires ≥ {min_dpi} dpi "
                                    "(Invalid Document)"),
    "preflight.low_dpi_image": N_("image at {dpi:g} dpi; Ozon requires ≥ {min_dpi} dpi (Invalid Document)"),
    "preflight.off_grid": N_("{symbol}: {dots:.1f} dots/module is off the {dpi}-dpi grid and no whole-dot size "
                             "fits its space"),
    "preflight.redrawn": N_("{symbol}: {dots:.1f} → {new_dots} dots/module"),
    "preflight.barcode_unreadable": N_("{symbol} does not decode on the {dpi}-dpi printer bitmap"),
    "preflight.barcode_misread": N_("{symbol} decodes as {found!r} on the {dpi}-dpi printer bitmap"),
    "preflight.barcode_fragile": N_("{symbol} fails {failures:list} on the {dpi}-dpi printer bitmap"),
    "preflight.too_large": N_("the label ({width:.0f}×{height:.0f} mm) is too large for {media}: it would print "
                              "at {zoom:.0%} and its barcodes would not scan; no configured printer has media "
                              "large enough"),
    "preflight.too_large_elsewhere": N_("the label ({width:.0f}×{height:.0f} mm) is too large for {media}: it "
                                        "would print at {zoom:.0%} and its barcodes would not scan; printer "
                                        "{printers:list} could take it: send it there (inbox/{first}/ or a "
                                        "[[route]])"),
    # ----- a label's life: validity, newer labels, repeats ---------------------------------------
    "label.expired": N_("label expired {ago:duration} ago (issued {age:duration} ago, valid {ttl:duration}); get "
                        "a fresh label from the marketplace, or `labelctl release` to print it anyway"),
    "label.expiring": N_("label expires in {left:duration}"),
    "label.superseded_before_print": N_("a newer label for posting {posting} arrived (label {label}, tracking "
                                        "{tracking}) before this one printed; `labelctl reprint {posting}` prints "
                                        "the newest"),
    "label.voided": N_("voided by a newer label for posting {posting} (label {label}, job {job}): tracking "
                       "{old_tracking} replaced by {new_tracking}"),
    "label.voided_after_print": N_("voided by a newer label for posting {posting} (label {label}, job {job}): "
                                   "tracking {old_tracking} replaced by {new_tracking} — this printed label is no "
                                   "longer valid"),
    "label.duplicate": N_("the same label arrived before as job {first} ({first_state}); not printed again — "
                          "`labelctl reprint {job}` prints it on purpose"),
    "reprint.superseded": N_("label {label} of posting {posting} was superseded by a newer label (job "
                             "{newer_job}); `labelctl reprint {posting}` prints the newest"),
    "reprint.not_fetched": N_("label {label} was never fetched from its link ({state}): there is nothing to print "
                              "again; wait for the fetch, or send the label again"),
    "reprint.expired": N_("label {label} expired {ago:duration} ago; get a fresh label from the marketplace"),
    # ----- a job's way through the daemon -------------------------------------------------------
    "job.accepted": N_("accepted {name} from {where}, page {page} of {pages}"),
    "job.prepare_failed": N_("labeld could not prepare this label ({error}); `labelctl release` tries again"),
    "job.printer_gone": N_("printer {printer!r} is no longer configured; `labelctl reprint --printer` sends it "
                           "elsewhere"),
    "job.ready_raw": N_("raw ZPL, ready on {printer}"),
    "job.ready": N_("rendered for {printer} ({fit:reason})"),
    "job.ready_warning": N_("rendered for {printer} ({fit:reason}); warning: {warnings:reasons}"),
    "job.sending": N_("sending to {printer}"),
    "job.printed_confirmed": N_("printed on {printer} (confirmed by the printer)"),
    "job.printed_unconfirmed": N_("printed on {printer} (sent; this printer connection cannot confirm printing)"),
    "job.held_by_printer": N_("the printer holds the label: {error}; it prints when the printer is back"),
    "job.refused": N_("the printer refused the label: {error}"),
    "job.printer_unreachable": N_("printer not reachable ({error}); the label waits and is sent when it is back"),
    "job.interrupted": N_("connection lost after {sent} of {total} bytes ({error}); the printer drops an "
                          "incomplete label, so it will be sent again when the printer is back — if two come out, "
                          "discard one"),
    "job.resent_after_drop": N_("the connection to {printer} dropped while this label waited in the printer "
                                "({error}), and afterwards the printer no longer held it: it printed, or was lost "
                                "if the printer was switched off or restarted; sent again — if two come out, "
                                "discard one"),
    "job.bitmap_missing": N_("its rendered bitmap is missing (restart?); rendering it again"),
    "job.bitmap_unreadable": N_("its rendered bitmap could not be read ({error}); rendering it again"),
    "job.uncertain_after_stop": N_("labeld stopped while this label was being sent; it may or may not have printed "
                                   "— check the printer, then `labelctl reprint` or `labelctl cancel`"),
    "job.cancelled": N_("cancelled by an operator"),
    "job.held_by_operator": N_("held by an operator; `labelctl release` prints it"),
    "job.released": N_("released by an operator; rendering and checking it again"),
    "job.reprint": N_("reprint of job {origin} requested by an operator"),
    "job.reprint_forced": N_("reprint of job {origin} requested by an operator (forced)"),
    # ----- printers -----------------------------------------------------------------------------
    "printer.paused": N_("paused by an operator (labelctl resume)"),
    "printer.printing_job": N_("printing job {job}"),
    "printer.printed_job": N_("printed job {job}"),
    "printer.stopped": N_("printer {printer} stopped ({reasons:list}): {message:reason}"),
    "printer.back": N_("printer {printer} is ready again (was: {previous:list})"),
    "printer.media_mismatch": N_("the printer has {loaded} labels loaded, but this printer's labels need {wanted} "
                                 "(Brother {label_id})"),
    # ----- operations refused ---------------------------------------------------------------------
    "rule.cancel": N_("only a job that has not started printing (or failed, or is uncertain) can be cancelled"),
    "rule.hold": N_("only a queued or ready job can be held"),
    "rule.release": N_("only a held job can be released"),
    "op.wrong_state": N_("job {job} is {state} ({why:reason}); {rule:reason}"),
    "op.no_job": N_("there is no job {job} (it never existed or was pruned after the retention time)"),
    "op.no_posting": N_("no label for posting {posting} is in the spool"),
    "op.no_printer": N_("there is no printer {printer!r} (printers: {printers:list})"),
    "op.bad_printer_name": N_("{printer!r} is not a printer name (letters, digits, '_', '.', '-')"),
    "op.bad_posting": N_("{posting!r} is not a posting number (like 12345678-0012-1)"),
    "op.bad_job_id": N_("{value!r} is not a job id (job ids are whole numbers like 1042)"),
    "op.unknown_state": N_("unknown state {state!r}; states are {states:list}"),
    "op.unknown_params": N_("unknown parameter {names:list}; known: {known:list}"),
    "op.bad_limit": N_("limit must be from 1 to 1000, not {limit}"),
    "op.bad_copies": N_("copies must be from 1 to {limit}, not {copies}"),
    "op.bad_number": N_("{name} must be a number, not {value!r}"),
    "op.bad_bool": N_("{name} must be true or false, not {value}"),
    "op.bad_timeout": N_("timeout must be from 0 to {limit:g} seconds, not {value:g}"),
    "op.bad_utf8": N_("{value!r} is not valid UTF-8 once decoded"),
    "op.bad_path_part": N_("{value!r} is not a valid {what}"),
    "op.bad_document_name": N_("name {name!r} is not a plain file name (no slashes, no leading dot)"),
    "op.reprint_refused": N_('{why:reason}; add --force ("force": true) to print it anyway'),
    "op.preview_not_fetched": N_("job {job}'s label is not fetched yet (it is a link to {url}): there is no "
                                 "picture until it is"),
    "op.preview_raw": N_("job {job} is raw ZPL; labeld sends it unchanged and has no bitmap of it"),
    "op.preview_printer_unusable": N_("printer {printer!r} of job {job} is not usable, so labeld cannot render "
                                      "for it"),
    "op.document_gone": N_("the document of job {job} is no longer in the spool"),
    # ----- network printers' status over SNMP, page counters (#22) -----------------------------
    "job.sending_counted": N_("sending to {printer} (its page counter reads {counter})"),
    "job.uncertain_printed": N_("labeld stopped while sending this label; the printer's page counter went from "
                                "{before} to {after} ({labels} label(s)), so it printed"),
    "job.uncertain_not_printed": N_("labeld stopped while sending this label; the printer's page counter still "
                                    "reads {counter}, so it did not print: it is sent again"),
    "job.uncertain_kept": N_("the printer's page counter cannot settle this label: {why:reason}; check the "
                             "printer, then `labelctl reprint` or `labelctl cancel`"),
    "counter.moved": N_("it went from {before} to {after}, but this job was {labels} label(s) (another sender, or "
                        "the printer was reset)"),
    "counter.other_printer": N_("the printer answering now is serial {now}, not {then}"),
    "counter.unreadable": N_("it could not be read ({error})"),
    "counter.several": N_("{count} labels were caught mid-send on this printer"),
    "printer.status_unknown": N_('status unknown: {error}; labels go out without the printer\'s word (status_lost = '
                                 '"write-only")'),
    "printer.status_unknown_wait": N_('status unknown: {error}; labels wait until the printer answers again '
                                      '(status_lost = "wait")'),
    # ----- print queues: the CUPS backend's uploads and socket users (#19) ----------------------
    "job.accepted_for": N_("accepted {name} from {where}, requested by {requested_by}, page {page} of {pages}"),
    "sidecar.not_printable": N_("{key} must be printable text without control characters, not {value}"),
    "op.bad_upload_key": N_("key must be 1 to 200 visible ASCII characters (no spaces)"),
    "op.submit_only": N_("this user may only submit documents and follow their jobs (daemon.submit_users); "
                         "labelctl needs membership of daemon.socket_group"),
    # ----- marketplace sources (#17): a source's trouble, a posting's label, operator requests -----------
    "source.key_unusable": N_("the API key cannot be used: {error}"),
    "source.key_refused": N_("{marketplace} refused the API key (HTTP {status}: {message}); {advice:reason}"),
    "source.advice_ozon_key": N_("an Ozon key lives 90 days and needs the permission to print labels: make a new "
                                 "one in the seller portal (Settings → Seller API), put it in {where}, then "
                                 "`systemctl reload labeld`"),
    "source.advice_wb_token": N_("make a new token with the Marketplace category in the seller portal (Settings → "
                                 "API access), put it in {where}, then `systemctl reload labeld`"),
    "source.rate_limited": N_("{marketplace} asks labeld to slow down (HTTP {status}, {tries} tries); polling "
                              "again in {wait:duration}"),
    "source.server_error": N_("{marketplace} answered HTTP {status} to {endpoint} ({message}); polling again in "
                              "{wait:duration}"),
    "source.unreachable": N_("cannot reach {marketplace} at {host}: {error}; polling again in {wait:duration}"),
    "source.bad_answer": N_("{marketplace}'s answer to {endpoint} cannot be read ({error}); polling again in "
                            "{wait:duration}"),
    "source.refused": N_("{marketplace} refused {endpoint} (HTTP {status}: {message}); polling again in "
                         "{wait:duration}"),
    "source.endpoint_gone": N_("{endpoint} answers 404: {marketplace} has switched it off or moved it; set the "
                               "new path under [[source]] paths (docs/operators/marketplaces.md)"),
    "source.unknown_paths": N_("unknown names under paths: {names:list}; known: {known:list}"),
    "posting.not_ready": N_("the marketplace has not made this label yet ({message}); trying again in "
                            "{wait:duration}"),
    "posting.task_failed": N_("the marketplace could not make the label ({message}); trying again in "
                              "{wait:duration}"),
    "posting.incomplete": N_("the label file arrived incomplete or damaged ({error}); fetching it again in "
                             "{wait:duration}"),
    "posting.rejected": N_("labeld cannot print the label the marketplace sent: {why:reason}; `labelctl fetch "
                           "{posting}` tries again"),
    "posting.link_failed": N_("the label's link gave no label ({why:reason}); asking the marketplace for a fresh "
                              "one in {wait:duration}"),
    "posting.link_gave_up": N_("the label's link gave no label {tries} times (last: {why:reason}); `labelctl fetch "
                               "{posting}` tries again"),
    "op.no_sources": N_("no [[source]] is configured"),
    "op.bad_source_name": N_("{source!r} is not a source name (letters, digits, '_', '.', '-')"),
    "op.no_source": N_("there is no source {source!r} (sources: {sources:list})"),
    "op.posting_unknown": N_("no source has seen posting {posting}; name one with --source (sources: "
                             "{sources:list})"),
    "op.fetch_timeout": N_("source {source} is busy and did not get to {posting} within {wait:duration}; it "
                           "stays queued"),
    # ----- the clock (#20: reasons as codes) ------------------------------------------------------
    "clock.not_measured": N_("the clock has not been measured yet"),
    "clock.behind": N_("clock is {offset:.1f} s behind; signed label links break beyond {threshold:g} s "
                       "({sources:reason})"),
    "clock.ahead": N_("clock is {offset:.1f} s ahead; signed label links break beyond {threshold:g} s "
                      "({sources:reason})"),
    "clock.within": N_("clock is within {offset:.3f} s of true time, inside the {threshold:g} s limit "
                       "({sources:reason})"),
    "clock.median": N_("median of {n} sources"),
    "clock.one_source": N_("1 source"),
    "clock.outvoted": N_("{assessment:reason}; outvoted: {outliers:parts}"),
    "clock.says": N_("{name} says {offset:+.1f} s"),
    "clock.no_source": N_("no time source is configured: add SNTP servers under [clock] servers"),
    "clock.no_source_here": N_("no time source: no SNTP server is configured under [clock] servers, and neither "
                               "chrony nor systemd-timesyncd answers on this machine; add a server, e.g. "
                               "servers = [\"pool.ntp.org\"]"),
    "clock.silent": N_("no time source answered: {errors:reasons}"),
    "clock.off": N_("clock monitoring is off ([clock] has no servers and local_sources = false)"),
    # ----- the packing station (#20): alarms, rejected files, scans, overrides --------------------
    "alarm.relabel": N_("relabel parcel {posting}: the label of job {job} was printed, then a newer label replaced "
                        "it (job {new_job}, tracking {new_tracking}); put the new label on the parcel, then "
                        "`labelctl ack {job}`"),
    "alarm.rejected": N_("file {file} was rejected: {why:reason} (moved to {where})"),
    "alarm.uncertain": N_("the label of parcel {posting} (job {job}) may not have printed: labeld stopped while it "
                          "was going out to {printer}; look at the printer's output, then `labelctl reprint {job}` "
                          "or `labelctl cancel {job}`"),
    "alarm.acknowledged": N_("acknowledged by {by}"),
    "job.released_override": N_("released past the label rules by {by}: \u201c{why}\u201d; rendering it again, "
                                "printing it once"),
    "rule.override": N_("only a held or rejected job can be released with an override"),
    "rule.release_rejected": N_("a rejected job is printed only past the rules, on purpose and recorded: "
                                "`labelctl release --override \"why\" {job}`"),
    "op.bad_override": N_("an override needs a reason in words (1 to {limit} characters)"),
    "op.nothing_to_ack": N_("job {job} has no alarm to acknowledge"),
    "op.no_rejected": N_("there is no rejected file {id} (it never existed or was pruned after the retention time)"),
    "op.rejected_acknowledged": N_("rejected file {id} was acknowledged already"),
    "op.code_alone": N_("code finds jobs by what a label holds; it cannot be combined with other filters but limit"),
    "op.missing_param": N_("the parameter {name} is missing"),
    "scan.empty": N_("{code!r} holds nothing to look up once blanks and control characters are removed"),
    "scan.no_match": N_("no label in the spool matches {code!r} (read as {tried:list})"),
    "scan.ambiguous": N_("{code!r} matches labels of more than one posting ({postings:list}); scan the posting "
                         "number instead"),
    "scan.newer_label": N_("the scanned label {label} was replaced by a newer label of posting {posting}: printed "
                           "the newest (label {newest})"),
    "preflight.posting_mismatch": N_("the label says posting {found}, but {given} was given; check which parcel this "
                                     "label belongs to, or send it again with --posting-mismatch=accept "
                                     "(posting_mismatch = \"accept\")"),
    "preflight.posting_mismatch_accepted": N_("the label says posting {found}, but {given} was given and accepted "
                                              "as the posting"),
    # ----- labels as links and codes, PNG and SVG (#16) --------------------------------------------
    "intake.bad_image": N_("unreadable {kind} image: {error}"),
    "intake.image_no_size": N_("the image is {width}×{height} pixels with no size in it (no pHYs) and matches no "
                               "sticker or medium (58×40 or 40×30 mm at 10 px/mm, or a printer's media)"),
    "link.bad_job": N_("link job: {error}"),
    "link.bad_code": N_("label_code is not Base64: {error}"),
    "link.code_not_label": N_("label_code decodes to {size} bytes that are neither a PDF, PNG, SVG nor ZPL "
                              "(they start with {head})"),
    "link.code_incomplete": N_("the label's bytes are incomplete or damaged: {error}"),
    "link.bad_url": N_("label_url must be an https:// link, not {url}"),
    "link.waiting": N_("waiting to fetch the label from {url}"),
    "link.waiting_clock": N_("waiting to fetch {url}: the clock is {offset:.1f} s off, beyond the {threshold:g} s "
                             "a signed link tolerates; fetching when the clock is back in bounds"),
    "link.retrying": N_("fetching {url} failed ({error}); try {attempt} of {tries} in {wait:duration}"),
    "link.redirect": N_("{url} answers {status} (a redirect to {target}), not 200: the link is not the label "
                        "itself; ask the marketplace for a fresh label_url (labeld does not follow redirects)"),
    "link.expired_or_signature": N_("{url} answers {status}: the link expired or its signature failed; check the "
                                    "clock ({clock:reason}) and ask the marketplace for a fresh label_url"),
    "link.refused": N_("{url} answers HTTP {status}; labeld cannot fetch the label"),
    "link.failed": N_("fetching {url} failed after {tries} tries: {error}"),
    "link.truncated": N_("{url} sent {got} of {expected} bytes: the download was cut short"),
    "link.too_big": N_("{url} sends more than intake.max_file_size ({limit} bytes)"),
    "link.not_label": N_("{url} sent {content_type} content that is neither a PDF nor an image (it starts with "
                         "{head})"),
    "link.incomplete": N_("{url} sent an incomplete file: {error}"),
    "link.blank": N_("blank label — the link's signature probably failed; check the clock ({clock:reason})"),
    "link.expired": N_("the link was issued {age:duration} ago and labels are valid for {ttl:duration}: not "
                       "fetched; ask the marketplace for a fresh label_url"),
    "link.fetched": N_("fetched {size} bytes from {url} ({kind}, {pages} page(s))"),
    "link.tls": N_("the TLS certificate of {host} is not trusted ({error}); set [links] ca_bundle if it is signed "
                   "by a private CA"),
    # ----- the station page (#18) ---------------------------------------------------------------
    "op.web_off": N_("the station page is off ([web] listen = []); set [web] listen and reload labeld"),
}
