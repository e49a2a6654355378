"""The saved cursor of each incremental source (encoded by :mod:`engine.outbound.cursor`)."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.base import StoreBase, utcnow
from engine.store.schema import cursors


class Cursors(StoreBase):
    """The ``hgsync_cursors`` table: one row per pipeline."""

    def get_cursor(self, pipeline: str) -> tuple[str, str] | None:
        """(column, encoded value) saved for ``pipeline``, or None."""
        query = sa.select(cursors.c.column_name, cursors.c.value).where(cursors.c.pipeline == pipeline)
        with self._begin() as conn:
            row = conn.execute(query).first()
        return (row.column_name, row.value) if row is not None else None

    def save_cursor(self, pipeline: str, column: str, value: str, run_id: str) -> None:
        with self._begin() as conn:
            values = {"column_name": column, "value": value, "run_id": run_id, "updated_at": utcnow()}
            if (
                conn.execute(cursors.update().where(cursors.c.pipeline == pipeline).values(**values)).rowcount
                == 0
            ):
                conn.execute(cursors.insert().values(pipeline=pipeline, **values))
