"""What a handheld scanner types, read as what it may name: a posting, a tracking number, a barcode
value on a label, or a job.

A scanner in keyboard mode types the symbol's text and Enter, and on a packing PC that text
arrives bent in familiar ways: Ozon's QR holds ``OZON:73710533-0456-1``; the posting may come
with spaces for dashes or none at all; a Code 39 reader may keep its ``*`` start and stop
characters; a scanner set to send AIM symbology identifiers prefixes ``]C1`` or ``]Q1``; Caps Lock
inverts the case; and with the Russian keyboard layout active every Latin letter arrives as the
Cyrillic letter on the same key (``OZON:`` becomes ``ЩЯЩТЖ``). :func:`readings` undoes all of
these and lists every plausible reading, most specific first; the spool lookup tries them in
that order. Pure, so it is tested without a daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

#: Kinds a reading can be, in the order a lookup prefers them.
KINDS = ("posting", "tracking", "barcode", "job")
#: The most a scan may be; a scanner that runs away (a stuck trigger) is cut here.
MAX_CODE = 512
#: Job ids as a person types them: "1042", "#1042", "job 1042".
JOB_ID = re.compile(r"^(?:#|job\s*)?([0-9]{1,9})$", re.IGNORECASE)
#: A marketplace's prefix before the posting number ("OZON:73710533-0456-1").
PREFIX = re.compile(r"^([A-Za-z]{2,12}):(?!//)\s*(.+)$")
AIM_IDENTIFIER = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
SEPARATORS = re.compile(r"[\s_./\\-]+")

#: The Russian (ЙЦУКЕН) layout, key by key, to the Latin (QWERTY) characters on the same keys.
_RU = "йцукенгшщзхъфывапролджэячсмитьбю.ёЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ,Ё\"№;:?"
_EN = "qwertyuiop[]asdfghjkl;'zxcvbnm,./`QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>?~@#$^&"
LAYOUT = str.maketrans(_RU, _EN)
CYRILLIC = re.compile("[а-яА-ЯёЁ]")


@dataclass(frozen=True)
class Reading:
    """One way to read a scan: ``kind`` (posting | tracking | barcode | job) and the value to look up."""

    kind: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}


def clean(raw: str) -> str:
    """The scan without control characters (CR, LF, TAB, GS), surrounding blanks and an AIM identifier."""
    text = "".join(ch for ch in raw[:MAX_CODE] if ch.isprintable() or ch == " ").strip()
    return AIM_IDENTIFIER.sub("", text, count=1).strip()


def variants(raw: str) -> list[str]:
    """The scan as typed, and as it was meant when a Russian layout or Caps Lock bent it."""
    text = clean(raw)
    found = [text]
    if CYRILLIC.search(text):
        found.append(text.translate(LAYOUT))
    for candidate in list(found):
        if any(ch.isalpha() for ch in candidate):
            found.append(candidate.swapcase())
    return _unique(found)


def cores(text: str) -> list[str]:
    """The parts of one variant that may name a label: itself, without ``*…*``, after a prefix, a URL's parts."""
    found = [text]
    if len(text) > 2 and text.startswith("*") and text.endswith("*"):
        found.append(text[1:-1])
    for item in list(found):
        prefixed = PREFIX.match(item)
        if prefixed:
            found.append(prefixed.group(2))
        if re.match(r"^https?://", item, re.IGNORECASE):
            found.extend(_url_parts(item))
    return _unique([part.strip() for part in found if part.strip()])


def readings(raw: str, posting_pattern: str) -> list[Reading]:
    """Every plausible reading of a scan, most specific first (postings, tracking numbers, barcode
    values, a job id); an empty list when nothing is left after cleaning."""
    pattern = re.compile(posting_pattern)
    by_kind: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for variant in variants(raw):
        for core in cores(variant):
            by_kind["posting"].extend(postings(core, pattern))
            compact = re.sub(r"\s+", "", core)
            by_kind["tracking"].extend([core, compact.upper()])
            by_kind["barcode"].extend([core, compact])
            job = JOB_ID.match(core)
            if job:
                by_kind["job"].append(str(int(job.group(1))))
    return [Reading(kind, value) for kind in KINDS for value in _unique(by_kind[kind]) if value]


def postings(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Posting numbers in ``text``: as written, with other separators turned into dashes, and
    rebuilt from bare digits (``7371053304561`` → ``73710533-0456-1``) where the pattern takes them."""
    found = [match.group(0) for match in pattern.finditer(text)]
    dashed = SEPARATORS.sub("-", text).strip("-")
    found += [match.group(0) for match in pattern.finditer(dashed)]
    digits = SEPARATORS.sub("", text)
    if digits.isdigit() and len(digits) >= 10:
        for tail in (1, 2):  # the last part is 1 or 2 digits, the middle one always 4
            head = len(digits) - 4 - tail
            candidate = f"{digits[:head]}-{digits[head:head + 4]}-{digits[head + 4:]}"
            if pattern.fullmatch(candidate):
                found.append(candidate)
    return _unique(found)


def _url_parts(url: str) -> list[str]:
    """The last path segment and the query values of a link (a tracking link in a label's QR)."""
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    return segments[-1:] + [value for _, value in parse_qsl(parts.query) if value]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
