"""Words the page shows that are not reasons: job states and printer conditions, marked for the
catalogues with ``N_`` and put into the reader's language when a page is made."""

from __future__ import annotations

from labeld.i18n import N_

STATE_WORDS = {
    "queued": N_("being prepared"),
    "ready": N_("waiting to print"),
    "printing": N_("printing"),
    "printed": N_("printed"),
    "held": N_("held"),
    "rejected": N_("rejected"),
    "superseded": N_("superseded"),
    "duplicate": N_("repeat, not printed"),
    "cancelled": N_("cancelled"),
    "uncertain": N_("may or may not have printed"),
    "failed": N_("failed"),
}

#: IPP printer-state-reasons as a packer says them.
PRINTER_REASON_WORDS = {
    "media-empty": N_("paper out"),
    "media-needed": N_("paper out"),
    "media-low": N_("paper low"),
    "media-jam": N_("paper jam"),
    "media-mismatch": N_("wrong labels loaded"),
    "cover-open": N_("cover open"),
    "door-open": N_("cover open"),
    "offline": N_("offline"),
    "paused": N_("paused"),
    "marker-supply-empty": N_("ribbon out"),
    "cutter-error": N_("cutter error"),
    "graphic-error": N_("label too large for the printer's memory"),
    "other": N_("fault"),
}

PRINTER_STATE_WORDS = {
    "idle": N_("ready"),
    "printing": N_("printing"),
    "stopped": N_("waiting"),
}
