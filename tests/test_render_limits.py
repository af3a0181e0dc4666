"""Hostile PDFs cost one label, never the daemon: the render worker's time and memory limits."""

from __future__ import annotations

import json
from pathlib import Path

from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.testing.hostile import memory_page, slow_page


def test_hanging_and_memory_eating_pdfs_are_stopped_and_others_print(tmp_path: Path) -> None:
    """A PDF that renders for ages is stopped at render.timeout, one that eats memory at
    render.memory_limit; each label is rejected with a reason, and the good labels print.
    The limit is 10 s, not less: the good labels must render within it on a busy machine too
    (they take milliseconds), and the slow page never finishes (a minute for 1 % of it here)."""
    sections = {"render": {"timeout": "10s", "memory_limit": "150MB"}}
    with DaemonProcess(tmp_path, sections=sections) as d:
        d.drop("a-good.pdf", batch_pdf(1, first_posting=30000001))
        d.drop("b-slow.pdf", slow_page())
        d.drop("c-greedy.pdf", memory_page())
        d.drop("d-good.pdf", batch_pdf(1, first_posting=30000002))
        d.wait_for(lambda: len([j for j in d.jobs() if j["state"] in ("printed", "rejected")]) == 4,
                   timeout=60, what="all four labels decided")
        by_document = {job["document"]: job for job in d.jobs()}
        assert by_document["a-good.pdf"]["state"] == "printed"
        assert by_document["d-good.pdf"]["state"] == "printed"
        slow, greedy = by_document["b-slow.pdf"], by_document["c-greedy.pdf"]
        assert slow["state"] == "rejected"
        assert "took longer than 10 s and was stopped" in slow["reason"]
        assert greedy["state"] == "rejected"
        assert "needed more than 143 MB" in greedy["reason"]  # 150 MB = 143 MiB
        assert d.process is not None and d.process.poll() is None
        assert len(list(d.printed.glob("*.png"))) == 2
        events = [e for e in d.log_events() if e.get("event") == "render_rejected"]
        assert len(events) == 2 and all("job" in e for e in events)
        assert json.dumps(events)  # log lines carry the reason as JSON, for journald
