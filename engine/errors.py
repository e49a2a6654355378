"""One exception tree, grouped by what the engine should do next.

    HgsyncError
    ├── ConfigError        a config or pipeline file is wrong: stop before any I/O (exit 2)
    ├── SourceError        a source cannot be read at all (database down): the run stops,
    │   │                  nothing is sent, the next run tries again
    │   └── SourceConfigError  the source block names what does not exist (a table, a column,
    │                      a folder): a config error, reported by `validate` too
    ├── StateError         the state store cannot be used: stop, nothing is sent
    ├── RowError           one row cannot become a request: record it and go on
    ├── LockedError        another process runs this pipeline or holds the state store
    │   └── LockLost       this process's lock was taken over (it stalled): stop writing at once
    ├── CredentialsRefused an API refused our credentials: the run stops, its rows untouched (exit 2)
    ├── ApplyError         a received event cannot be applied (a row, a table, a database down):
    │                      it stays in the inbox with the reason and is tried again later
    └── Interrupted        the run was asked to stop (SIGTERM) before its plan was complete

Delivery outcomes (delivered, rejected, retryable failure) are values, not exceptions:
see ``connectors.hepsiglobal.client.Outcome``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a file, with where it is: ``file:line:col path: message``."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"  # "error" stops the file from loading; "warning" does not

    def __str__(self) -> str:
        if not self.file:  # about no file (no pipeline of that name...): the message alone
            return self.message
        where = f"{self.file}:{self.line}:{self.col}"
        label = f" {self.path}:" if self.path else ""
        prefix = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}{prefix}{label} {self.message}"


class HgsyncError(Exception):
    """Base of every error hgsync raises on purpose."""

    remedy: str = ""


class ConfigError(HgsyncError):
    """Config or pipeline files are wrong; carries every problem found."""

    remedy = "fix the files, then check them with `hgsync validate`"

    def __init__(self, problems: list[Problem] | str, remedy: str | None = None):
        if isinstance(problems, str):
            problems = [Problem("", 0, 0, "", problems)]
        if remedy is not None:
            self.remedy = remedy
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(HgsyncError):
    """The source cannot be read at all; the run stops before sending anything."""

    remedy = "check that the source is reachable, then run again"


class SourceConfigError(SourceError):
    """The source's settings name a table, column or folder that does not exist."""

    remedy = "fix the pipeline's source block, then check it with `hgsync validate`"


class StateError(HgsyncError):
    """The state store cannot be opened or written."""

    remedy = "check the `state:` URL in config/hgsync.yaml"


class LockedError(HgsyncError):
    """Another process holds the lock this one needs."""

    remedy = "wait for the other process to finish, or stop it"


class CredentialsRefused(HgsyncError):
    """A target refused the credentials: every request would fail, so the run stops and the
    rows whose requests were on the wire are put back as they were."""

    remedy = "check the target's credentials in config/hgsync.yaml"


class ApplyError(HgsyncError):
    """A webhook event could not be written to the marketplace; it stays in the inbox."""

    remedy = "fix the cause, then `hgsync inbox replay --failed` (pending events are retried on their own)"


class LockLost(LockedError):
    """This process held a lock and another took it over (this one stalled past its lease):
    it must stop writing at once, because the other one now does the work."""


class RowError(HgsyncError):
    """One row cannot be turned into a valid request; it is recorded and skipped."""


class Interrupted(HgsyncError):
    """The run was asked to stop before it had decided what to send; nothing was sent."""
