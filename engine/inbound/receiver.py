"""The webhook receiver: a Starlette app with one route per webhook HG calls.

Per call: the body is read up to the size limit (413 beyond), the caller authenticated
(401, nothing stored), the body validated against the operation (400 with every reason,
nothing stored), the event committed to the inbox (503 when the store cannot take it, so
that HG sends it again), and only then acknowledged: 200 ``{"data": {"event_id": ...},
"message": "accepted" | "already received"}``. Queries (variant listing status and count)
are answered at once from the marketplace's tables. uvicorn serves the app
(:mod:`engine.inbound.serve`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from engine.definitions.operations import Operation
from engine.definitions.receiver import ReceiverSettings
from engine.errors import HgsyncError
from engine.inbound.auth import Refused, authenticate
from engine.inbound.events import BadEvent, identify, parse
from engine.inbound.intake import Intake
from engine.inbound.metrics import ReceiverMetrics
from engine.logging import get_logger

log = get_logger("hgsync.receiver")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class TooLarge(Exception):
    pass


@dataclass
class Receiving:
    """What the app needs: the settings, the operations by route, the inbox writer, and the
    answerer of queries (``answer(operation, body) -> data``)."""

    settings: ReceiverSettings
    operations: list[Operation]
    intake: Intake
    answer: Callable[[Operation, Any], Any]
    metrics: ReceiverMetrics


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _query(operation: Operation, request: Request, raw: bytes) -> dict[str, Any]:
    """A query's filters, checked and converted by its model: from the body, or for a GET
    from the query string (a repeated parameter is a list)."""
    if operation.method == "GET" or not raw.strip():
        params: dict[str, Any] = {}
        for name, value in request.query_params.multi_items():
            params[name] = (
                [*params[name], value]
                if isinstance(params.get(name), list)
                else ([params[name], value] if name in params else value)
            )
        body: Any = params
        reasons = operation.validate(body)
    else:
        body = parse(operation, raw)
        reasons = []
    if reasons:
        raise BadEvent(reasons)
    if operation.model is None:
        return body if isinstance(body, dict) else {}
    return operation.model.model_validate(body).model_dump()


def _reply(status: int, message: str, **data: Any) -> JSONResponse:
    return JSONResponse({"data": data, "message": message}, status_code=status)


def build_app(receiving: Receiving) -> Starlette:
    settings = receiving.settings

    def endpoint(operation: Operation) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            response, outcome, event_id = await _handle(request, operation)
            elapsed = time.perf_counter() - started
            receiving.metrics.observe(operation.name, response.status_code, outcome, elapsed)
            log.info(
                "webhook_received",
                operation=operation.name,
                event_id=event_id,
                outcome=outcome,
                status=response.status_code,
                latency_ms=round(elapsed * 1000, 2),
            )
            return response

        return handle

    async def _handle(request: Request, operation: Operation) -> tuple[Response, str, str | None]:
        try:
            raw = await _body(request, settings.body_limit)
        except TooLarge:
            return _reply(413, f"body over the {settings.body_limit} byte limit"), "too_large", None
        except ClientDisconnect:
            return Response(status_code=400), "disconnected", None
        try:
            authenticate(settings.auth, request.headers, raw, time.time())
        except Refused as exc:
            log.warning("webhook_refused", operation=operation.name, reason=str(exc))
            return _reply(401, "not authenticated"), "unauthenticated", None
        try:
            if operation.query:
                query = _query(operation, request, raw)
                data = await asyncio.to_thread(receiving.answer, operation, query)
                return JSONResponse({"data": data, "message": "ok"}), "answered", None
            body = (
                await asyncio.to_thread(parse, operation, raw) if len(raw) > 65536 else parse(operation, raw)
            )
            event = identify(operation, body, request.headers, settings.event_id_header, settings.window)
        except BadEvent as exc:
            return (
                JSONResponse({"message": "invalid body", "errors": exc.reasons}, status_code=400),
                "invalid",
                None,
            )
        except HgsyncError as exc:  # a query's database is down
            log.error("webhook_query_failed", operation=operation.name, error=str(exc))
            return _reply(503, "cannot answer now; try again"), "unavailable", None
        try:
            new = await receiving.intake.submit(event)
        except Exception as exc:
            log.error("webhook_not_stored", operation=operation.name, event_id=event.event_id, error=str(exc))
            return _reply(503, "cannot store the event now; send it again"), "unavailable", event.event_id
        if new:
            return _reply(200, "accepted", event_id=event.event_id), "accepted", event.event_id
        return _reply(200, "already received", event_id=event.event_id), "duplicate", event.event_id

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def metrics(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in _LOOPBACK:
            return PlainTextResponse("metrics are served to this machine only\n", status_code=403)
        body, content_type = await asyncio.to_thread(receiving.metrics.exposition)
        return Response(body, media_type=content_type)

    routes = [Route(op.path, endpoint(op), methods=[op.method], name=op.name) for op in receiving.operations]
    routes += [Route("/healthz", healthz), Route("/metrics", metrics)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiving.intake.start()
        yield
        await receiving.intake.stop()

    return Starlette(routes=routes, lifespan=lifespan)
