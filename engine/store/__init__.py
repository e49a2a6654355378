"""The state store: deliveries per key, runs and their row errors, cursors, files, locks.

May import: engine.errors, engine.logging. Nothing else of hgsync: every layer above
keeps its state here, so this package knows none of them.
"""

from engine.store.deliveries import KeyState
from engine.store.runs import RunRecord
from engine.store.sending import Mark, Settled
from engine.store.state_store import StateStore

__all__ = ["KeyState", "Mark", "RunRecord", "Settled", "StateStore"]
