"""The durable spool: SQLite rows for documents, labels, jobs and their history; files on disk."""

from labeld.spool.spool import Job, Spool
from labeld.spool.states import JobState
from labeld.spool.store import DocumentStore

__all__ = ["DocumentStore", "Job", "JobState", "Spool"]
