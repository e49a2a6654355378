"""Files of batch sources (CSV drops), remembered by name and content so each is processed once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.store.base import StoreBase, utcnow
from engine.store.schema import files


class Files(StoreBase):
    """The ``hgsync_files`` table."""

    def file_record(self, pipeline: str, name: str, sha256: str) -> dict[str, Any] | None:
        """What became of a file with this name and content, if it was processed before."""
        query = sa.select(files).where(
            files.c.pipeline == pipeline, files.c.name == name, files.c.sha256 == sha256
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def record_file(
        self, pipeline: str, name: str, sha256: str, status: str, rows: int, detail: str | None = None
    ) -> None:
        with self._begin() as conn:
            where = (files.c.pipeline == pipeline) & (files.c.name == name) & (files.c.sha256 == sha256)
            values = {"status": status, "rows": rows, "detail": detail, "processed_at": utcnow()}
            if conn.execute(files.update().where(where).values(**values)).rowcount == 0:
                conn.execute(files.insert().values(pipeline=pipeline, name=name, sha256=sha256, **values))
