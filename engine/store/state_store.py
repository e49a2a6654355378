"""The state store: what each pipeline delivered, per key, and the history of its runs.

SQLAlchemy Core over SQLite (a file, by default ``.hgsync/state.db``) or PostgreSQL (by
URL, for a shared installation). Tables are prefixed ``hgsync_`` so they can share a
database. Outcomes are committed as they arrive, a few at a time: a crash loses at most the
requests on the wire and the answers not yet committed, and those keys are marked
``sending`` beforehand so the next run knows to send them again. Request bodies are kept for the last *delivered* request only (for ``plan`` to show
what changed); no token or secret is ever written here.

:class:`StateStore` is the one object callers hold; each concern's reads and writes live in
their own module (:mod:`.deliveries`, :mod:`.sending`, :mod:`.runs`, :mod:`.cursors`, :mod:`.files`,
:mod:`.locks`, :mod:`.inbox`, :mod:`.results`) over one connection (:mod:`.base`) and one schema (:mod:`.schema`).
"""

from __future__ import annotations

from engine.store.cursors import Cursors
from engine.store.files import Files
from engine.store.inbox import Inbox
from engine.store.locks import Locks
from engine.store.results import Results
from engine.store.runs import Runs
from engine.store.sending import Sending


class StateStore(Sending, Runs, Cursors, Files, Locks, Inbox, Results):
    """One state store, opened from its SQLAlchemy URL: ``StateStore("sqlite:///.hgsync/state.db")``."""
