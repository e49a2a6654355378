"""Queries HG asks the marketplace (variant listing status, variant listing count), answered
from the SQL query of an ``answer:`` pipeline.

The pipeline's query returns one row per variant with columns named as the answer's fields
(``company_id``, ``sku``, ``mp_sku``, ``status``, ``report_date``; HG's ``mp_status`` filter
is compared with ``status``); HG's filters and
pagination are applied around it, with bound parameters only: a filter value is data, never SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.definitions.inbound_pipeline import AnswerPipeline
from engine.definitions.operations import Operation
from engine.definitions.settings import Settings, describe_db_error, resolve_url
from engine.errors import ApplyError, ConfigError
from engine.inbound.events import BadEvent
from engine.mapping.render import json_value

LIST_FILTERS = ("company_id", "sku", "mp_sku")  # a value or a list of values: any of them
EXACT_FILTERS = {"mp_status": "status"}  # filter → the column it is compared with
SINCE_FILTER = "report_date"  # rows reported on or after this date [inferred]


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _where(body: Mapping[str, Any]) -> tuple[list[str], dict[str, Any], list[sa.BindParameter[Any]]]:
    clauses, params, binds = [], {}, []
    for name in LIST_FILTERS:
        if body.get(name) not in (None, [], ""):
            clauses.append(f"q.{name} IN :{name}")
            params[name] = _values(body[name])
            binds.append(sa.bindparam(name, expanding=True))
    for name, column in EXACT_FILTERS.items():
        if body.get(name) not in (None, ""):
            clauses.append(f"q.{column} = :{name}")
            params[name] = body[name]
    if body.get(SINCE_FILTER) not in (None, ""):
        clauses.append(f"q.{SINCE_FILTER} >= :{SINCE_FILTER}")
        params[SINCE_FILTER] = _date(body[SINCE_FILTER])
    return clauses, params, binds


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return (
                datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
            )
        except ValueError:
            return value
    return value


def _whole(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadEvent([f"{name}: not a whole number"]) from None
    if number < 1:
        raise BadEvent([f"{name}: must be 1 or more"])
    return number


class Answerer:
    """Answers the queries of the project's ``answer:`` pipelines."""

    def __init__(self, settings: Settings, home: Path, pipelines: Callable[[], Mapping[str, AnswerPipeline]]):
        self.settings = settings
        self.home = home
        self.pipelines = pipelines
        self._engines: dict[str, sa.Engine] = {}

    def _engine(self, connection: str) -> sa.Engine:
        if connection not in self._engines:
            url = resolve_url(self.settings.connections[connection], self.home)
            self._engines[connection] = sa.create_engine(url, pool_pre_ping=True)
        return self._engines[connection]

    def __call__(self, operation: Operation, body: Any) -> Any:
        pipeline = next((p for p in self.pipelines().values() if p.operation.name == operation.name), None)
        if pipeline is None:
            raise ConfigError(
                f"no pipeline answers {operation.name} (write one with `answer: {operation.name}`)"
            )
        body = body if isinstance(body, dict) else {}
        inner = pipeline.spec.query.sql.strip().rstrip(";")
        clauses, params, binds = _where(body)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        size = min(_whole(body, "size", pipeline.spec.max_page_size), pipeline.spec.max_page_size)
        page = min(_whole(body, "page", 1), 10**9)
        try:
            with self._engine(pipeline.spec.query.connection).connect() as conn:
                count = sa.text(f"SELECT COUNT(*) FROM ({inner}) q{where}").bindparams(*binds)
                total = conn.execute(count, params).scalar_one()
                if operation.name.endswith("count"):
                    return {"count": total}
                rows = sa.text(
                    f"SELECT * FROM ({inner}) q{where} ORDER BY 1, 2 LIMIT :limit OFFSET :offset"
                ).bindparams(*binds)
                found = conn.execute(rows, {**params, "limit": size, "offset": (page - 1) * size})
                items = [json_value(dict(row._mapping)) for row in found]
        except SQLAlchemyError as exc:
            raise ApplyError(f"{pipeline.file}: {describe_db_error(exc)}") from None
        return {"items": items, "page": page, "size": size, "total": total}

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
