"""A state store written by an older hgsync is brought up to this schema when opened:
columns and indexes added since are added, rows already there are kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.errors import StateError
from engine.store import StateStore
from engine.store.base import add_missing_columns
from engine.store.schema import deliveries, metadata
from tests.servers import postgres_schema

OLD_DELIVERIES = """
CREATE TABLE hgsync_deliveries (
    pipeline VARCHAR(200) NOT NULL, key TEXT NOT NULL, status VARCHAR(16) NOT NULL,
    fingerprint VARCHAR(64), attempts INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL, PRIMARY KEY (pipeline, key))
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store holding one delivery in the table as an older hgsync made it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        engine = sa.create_engine(url)
        yield from _seeded(url, engine)
        engine.dispose()
    else:
        with postgres_schema() as space:
            yield from _seeded(space.url, space.engine)


def _seeded(url: str, engine: sa.Engine) -> Iterator[str]:
    with engine.begin() as conn:
        conn.execute(sa.text(OLD_DELIVERIES))
        conn.execute(
            sa.text(
                "INSERT INTO hgsync_deliveries (pipeline, key, status, fingerprint, attempts, updated_at)"
                " VALUES ('p', 'k1', 'delivered', 'fp1', 1, CURRENT_TIMESTAMP)"
            )
        )
    yield url


def test_opening_adds_the_missing_columns_and_keeps_the_rows(old_store_url: str) -> None:
    store = StateStore(old_store_url)
    try:
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("hgsync_deliveries")}
        assert columns == {c.name for c in deliveries.columns}
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("hgsync_deliveries")}
        assert "ix_hgsync_deliveries_status" in indexes
        assert store.lookup("p", ["k1"])["k1"].fingerprint == "fp1"
        store.mark_sending("p", "k1", "fp2", "t(id=1)", "run-2")
        assert store.lookup("p", ["k1"])["k1"].attempted_fingerprint == "fp2"
    finally:
        store.close()
    again = StateStore(old_store_url)  # nothing left to add: opening again changes nothing
    try:
        with again.engine.begin() as conn:
            assert add_missing_columns(conn) == []
    finally:
        again.close()


def test_a_new_column_that_cannot_be_added_is_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    table = sa.Table("hgsync_demo_extra", metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE hgsync_demo_extra (other INTEGER)"))
            with pytest.raises(StateError, match="hgsync_demo_extra.id: a new column must be nullable"):
                add_missing_columns(conn)
    finally:
        metadata.remove(table)
        engine.dispose()
