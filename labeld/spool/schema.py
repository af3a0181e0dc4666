"""The spool's tables. Times are unix seconds (REAL); JSON columns hold small objects.

``SCHEMA_VERSION`` is written into ``meta`` and checked when a spool is opened: an older spool is
migrated by the steps in ``MIGRATIONS`` (each one takes version N-1 to N, in one transaction), a
newer one is refused, because this labeld cannot know what the newer one stored.
"""

from labeld.spool.links import LINKS_TABLE

SCHEMA_VERSION = 5

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)

#: Every change worth telling, one sequence: a job's state changes and notes (``kind = 'job'``), a
#: printer stopping or coming back, the clock leaving or re-entering its bounds, a file rejected
#: whole, an alarm raised or acknowledged. ``from_state``/``to_state`` are the subject's states
#: (a job's, a printer's, the clock's); ``data`` holds the kind's own fields as JSON.
_EVENTS = """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL DEFAULT 'job',  -- job | printer | clock | rejected | alarm
        job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
        subject TEXT,                      -- the printer's name, the rejected file's id, 'clock'
        at REAL NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL,
        reason_code TEXT NOT NULL DEFAULT 'text',
        reason_params TEXT NOT NULL DEFAULT '{}',
        alarm INTEGER NOT NULL DEFAULT 0,  -- 1: this event needs a person's attention
        data TEXT
    )"""

TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS documents (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,            -- hotfolder | api | reprint
        intake_key TEXT UNIQUE,          -- the claim id of a hot-folder file, for exactly-once intake
        kind TEXT NOT NULL DEFAULT 'pdf',-- pdf | zpl | link (a label_url not fetched yet: sha256 is '')
        received_at REAL NOT NULL,
        size INTEGER NOT NULL,
        pages INTEGER NOT NULL,
        sidecar TEXT,
        folder TEXT
    )""",
    """
    CREATE TABLE IF NOT EXISTS labels (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        page INTEGER NOT NULL,
        width_mm REAL,
        height_mm REAL,
        posting TEXT,
        tracking TEXT,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        content_hash TEXT,
        preflight TEXT,
        posting_mismatch TEXT NOT NULL DEFAULT 'refuse',  -- refuse | accept: a given posting the label contradicts
        UNIQUE (document_id, page)
    )""",
    "CREATE INDEX IF NOT EXISTS labels_posting ON labels(posting)",
    "CREATE INDEX IF NOT EXISTS labels_content ON labels(content_hash)",
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        printer TEXT NOT NULL,
        copies INTEGER NOT NULL DEFAULT 1,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',   -- the reason in English words, for people reading the database
        reason_code TEXT NOT NULL DEFAULT 'text',
        reason_params TEXT NOT NULL DEFAULT '{}',
        confirmed INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        reprint_of INTEGER,
        duplicate_of INTEGER,
        forced INTEGER NOT NULL DEFAULT 0,
        interrupted INTEGER NOT NULL DEFAULT 0,
        override TEXT,                     -- JSON {"by", "uid", "why"}: released past the label rules, once
        needs_ack INTEGER NOT NULL DEFAULT 0  -- 1: voided after it printed; a person must relabel the parcel
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, printer, id)",
    "CREATE INDEX IF NOT EXISTS jobs_label ON jobs(label_id)",
    _EVENTS,
    "CREATE INDEX IF NOT EXISTS events_job ON events(job_id)",
    "CREATE INDEX IF NOT EXISTS labels_tracking ON labels(tracking)",
    """
    CREATE TABLE IF NOT EXISTS rejected_files (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,              -- hotfolder | api
        folder TEXT,
        moved_to TEXT,                     -- where the file went (rejected/NAME), NULL for an upload
        size INTEGER,
        reason TEXT NOT NULL,
        reason_code TEXT NOT NULL,
        reason_params TEXT NOT NULL DEFAULT '{}',
        acknowledged_at REAL,
        acknowledged_by TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS rejected_at ON rejected_files(at)",
    """
    CREATE TABLE IF NOT EXISTS label_codes (
        label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        code TEXT NOT NULL,
        PRIMARY KEY (code, label_id)
    )""",
    """
    CREATE TABLE IF NOT EXISTS printers (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT ''
    )""",
    """
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)


#: Marketplace sources (labeld.sources): what each one has seen and fetched, so that a restart or
#: a kill -9 resumes without reprinting or skipping a posting; and its counters for the metrics.
SOURCE_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS sources (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0,
        polls INTEGER NOT NULL DEFAULT 0,
        errors TEXT NOT NULL DEFAULT '{}',   -- errors by kind ({"auth": 2}), for the metrics
        fetched INTEGER NOT NULL DEFAULT 0,  -- labels handed to intake
        last_poll REAL,
        last_ok REAL,
        next_poll REAL,
        trouble_code TEXT,                   -- a reason (code + JSON parameters) while the source is in trouble
        trouble_params TEXT,
        trouble_since REAL,
        last_error_code TEXT,                -- the latest failure, kept after the trouble ends
        last_error_params TEXT,
        last_error_at REAL
    )""",
    """
    CREATE TABLE IF NOT EXISTS source_postings (
        source TEXT NOT NULL,
        posting TEXT NOT NULL,               -- Ozon posting number, Wildberries order id
        state TEXT NOT NULL,                 -- waiting | fetched | failed
        tracking TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT '',     -- the marketplace's status when last seen
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        fetched_at REAL,
        intake_key TEXT,                     -- the key of the document that carries its label
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try REAL NOT NULL DEFAULT 0,
        reason_code TEXT,
        reason_params TEXT,
        PRIMARY KEY (source, posting)
    )""",
    "CREATE INDEX IF NOT EXISTS source_postings_due ON source_postings(source, state, next_try)",
)
TABLES += SOURCE_TABLES
#: Labels that arrive as a link (#16): the link and its fetch (labeld.spool.links).
TABLES += (LINKS_TABLE,)

#: Version 1 → 2: reasons became a code with parameters (labeld.reasons). Old rows keep their
#: words as a reason of code "text".
_V2 = tuple(
    f"ALTER TABLE {table} ADD COLUMN {column}"
    for table in ("jobs", "events")
    for column in ("reason_code TEXT NOT NULL DEFAULT 'text'", "reason_params TEXT NOT NULL DEFAULT '{}'")
) + tuple(
    f"UPDATE {table} SET reason_params = json_object('text', reason)" for table in ("jobs", "events")
)

#: Version 3 → 4, the station core (#20): events of every kind in one sequence (job_id may be NULL),
#: files rejected whole, alarms to acknowledge, the codes a scanner may read off a label, audited
#: overrides and a per-label answer to a contradicted posting number. A printed label voided in
#: the last day raises its alarm again; older ones are history.
_V3 = (
    _EVENTS.replace("CREATE TABLE IF NOT EXISTS events", "CREATE TABLE events_v3"),
    "INSERT INTO events_v3(id, kind, job_id, at, from_state, to_state, reason, reason_code, reason_params)"
    " SELECT id, 'job', job_id, at, from_state, to_state, reason, reason_code, reason_params FROM events",
    "DROP TABLE events",
    "ALTER TABLE events_v3 RENAME TO events",
    "ALTER TABLE jobs ADD COLUMN override TEXT",
    "ALTER TABLE jobs ADD COLUMN needs_ack INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE labels ADD COLUMN posting_mismatch TEXT NOT NULL DEFAULT 'refuse'",
    "UPDATE jobs SET needs_ack = 1 WHERE id IN (SELECT job_id FROM events WHERE reason_code ="
    " 'label.voided_after_print' AND at > CAST(strftime('%s', 'now') AS REAL) - 86400)",
    """CREATE TABLE label_codes (label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        code TEXT NOT NULL, PRIMARY KEY (code, label_id))""",
    "INSERT OR IGNORE INTO label_codes(label_id, code) SELECT l.id, json_extract(b.value, '$.value')"
    " FROM labels l, json_each(CASE WHEN json_valid(l.preflight) THEN l.preflight END, '$.barcodes') b"
    " WHERE json_extract(b.value, '$.value') IS NOT NULL",
)

#: MIGRATIONS[n] takes a spool from version n to n + 1.
#: Version 2 → 3 (marketplace sources, #17): two new tables, nothing else changes.
#: Version 4 → 5 (labels as links, #16): one new table; documents of kind 'link' are new rows only.
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V2, 2: SOURCE_TABLES, 3: _V3, 4: (LINKS_TABLE,)}
