"""Database fixtures of the source tests: a private PostgreSQL schema or MariaDB database per
test (see :mod:`tests.servers`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import Space, mariadb_database, postgres_schema


@pytest.fixture
def pg() -> Iterator[Space]:
    """A fresh PostgreSQL schema, dropped after the test."""
    with postgres_schema() as space:
        yield space


@pytest.fixture
def mariadb() -> Iterator[Space]:
    """A fresh MariaDB database, dropped after the test."""
    with mariadb_database() as space:
        yield space


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def server_db(request: pytest.FixtureRequest) -> Space:
    """Each database server in turn."""
    return request.getfixturevalue({"postgres": "pg", "mariadb": "mariadb"}[request.param])
