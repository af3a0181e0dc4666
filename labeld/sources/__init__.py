"""Marketplace sources: labeld fetches labels from Ozon and Wildberries itself.

``manager`` builds and runs one polling ``coordinator`` per ``[[source]]``; ``ozon`` and
``wildberries`` know their marketplace's calls (``ozon_api``, ``wb_api``: endpoints and one pure
parser per answer); ``http`` is the HTTPS edge (TLS verified, paced, retried); ``handoff`` turns a
fetched label into a job, once. What a source has seen and fetched lives in the spool
(``labeld.spool.source_state``). docs/operators/marketplaces.md tells operators how to set one up.
"""

from labeld.sources.manager import SourceManager, UnknownSource

__all__ = ["SourceManager", "UnknownSource"]
