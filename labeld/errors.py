"""The small set of exceptions that cross module boundaries."""

from __future__ import annotations

from labeld.reasons import Reason


class LabeldError(Exception):
    """Base class: every error labeld raises on purpose says what happened in plain words."""


class ConfigError(LabeldError):
    """The configuration cannot be used; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def __reduce__(self) -> tuple[type, tuple[list[str]]]:
        return (type(self), (self.problems,))


class RejectedInput(LabeldError):
    """The input cannot be printed correctly (unreadable PDF, page too large, ...).

    ``reason`` says why, for an operator (a code with parameters, see :mod:`labeld.reasons`);
    ``detail`` is machine-readable context.
    """

    def __init__(self, reason: Reason, detail: object = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason.text())

    def __reduce__(self) -> tuple[type, tuple[Reason, object]]:
        # Crosses the render worker's pipe whole, detail included.
        return (type(self), (self.reason, self.detail))


class RenderFailed(RejectedInput):
    """Rendering or checking a page failed in a way that retrying will not fix (the input is bad,
    or it exceeded the render worker's limits)."""


class DeviceError(LabeldError):
    """Talking to a printer failed.

    ``bytes_sent`` counts what reached the device before the failure, so that a half-sent
    label can be told apart from one that never started.
    """

    def __init__(self, message: str, *, bytes_sent: int = 0, reason: str = "offline") -> None:
        self.bytes_sent = bytes_sent
        self.reason = reason
        super().__init__(message)


class PrinterWaiting(DeviceError):
    """The printer (or print server) took the label but holds it: a stopped queue, a held job.

    The label has not come out; the engine keeps it ``ready`` and tries again once the printer's
    status is no longer blocked. Devices must make the retry safe (no second print).
    """


class PrinterRefused(LabeldError):
    """The printer refused a job in a way that retrying cannot fix."""


class SpoolFull(LabeldError):
    """The spool's disk is (nearly) full: new documents are refused, nothing accepted is lost."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        super().__init__(reason.text())

    def __reduce__(self) -> tuple[type, tuple[Reason]]:
        return (type(self), (self.reason,))
