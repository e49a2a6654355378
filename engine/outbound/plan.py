"""The first half of a run: read the source, render each row, and decide what to send.

Nothing here sends anything or writes to the state store; ``hgsync plan`` is this half
alone, ``hgsync run`` is this half followed by :mod:`engine.outbound.deliver`.

A row whose digest (:mod:`engine.outbound.digest`) was saved with a delivered key is
unchanged without being rendered: the pipeline's saved digests are read once per run (by
chunk of rows beyond ``DIGEST_MAP_LIMIT``), and such a row is kept aside in the spool
without its key, origin or values (:class:`_Unchanged` finds the few whose key matters: the
duplicates). The rows to render are looked up by key a few chunks at a time. A row rendered
to the request its key delivered is marked for its digest to be saved by the run
(``Spool.refreshed_digests``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.sources.base import CursorRead, Row, RowChunk, SourceConnector
from engine.definitions.pipeline import Pipeline
from engine.errors import Interrupted
from engine.mapping.render import Leaf, RenderError, RowValues, columns_used
from engine.outbound.cursor import encode as encode_cursor
from engine.outbound.diff import SEND, canonical, changes, classify, fingerprint
from engine.outbound.digest import definition_digest, row_digests
from engine.outbound.spool import Spool, SpoolRow
from engine.store import StateStore

CHUNK = 2000
RENDER_BATCH = 500  # rows to render whose keys are looked up together
HOLD_ROWS = 50_000  # rows read held at most while they wait
# digests of delivered keys held in memory at once (~90 bytes each); beyond, looked up by chunk
DIGEST_MAP_LIMIT = 2_000_000
VERDICTS = ("new", "changed", "unchanged", "retry", "rejected", "held", "filtered", "error", "superseded")


@dataclass(frozen=True)
class Rendered:
    """One row after rendering: a request to diff, a row error, or filtered out by ``when``."""

    row: Row
    key: str | None = None
    params: dict[str, str] | None = None
    body: Any = None
    path: str | None = None
    error: str | None = None
    filtered: bool = False

    def request(self, method: str) -> dict[str, Any]:
        return {"method": method, "path": self.path, "params": self.params, "body": self.body}


def render_row(pipeline: Pipeline, row: Row) -> Rendered:
    context = {"row": RowValues(row.values)}
    if row.error is not None:  # the source could not read it whole; name its key if the rest allows
        try:
            key = _text(pipeline.key.render(context), "key") if row.values else None
        except RenderError:
            key = None
        return Rendered(row, key=key, error=row.error)
    key = None
    try:
        if pipeline.when is not None and not pipeline.when.render(context):
            return Rendered(row, filtered=True)
    except RenderError as exc:  # the row's own `when` failed: say so, and name the row's key if it renders
        try:
            key = _text(pipeline.key.render(context), "key")
        except RenderError:
            key = None
        return Rendered(row, key=key, error=f"when: {exc}")
    try:
        key = _text(pipeline.key.render(context), "key")
        params = {
            name: _text(value, f"request.path.{name}")
            for name, value in pipeline.path.render(context).items()
        }
        body = pipeline.body.render(context) if pipeline.body is not None else None
    except RenderError as exc:
        where = "" if key is not None or str(exc).startswith(("key", "request")) else "key: "
        blank = key_blank(pipeline.key, row.values, str(exc)) if key is None else None
        if blank:
            return Rendered(row, error=f"key: {blank}")
        return Rendered(row, key=key, error=f"{where}{exc}")
    operation = pipeline.operation
    problems = operation.validate(body) if operation.model is not None else []
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return Rendered(row, key=key, error=f"request.body does not fit {operation.name}: {listed}")
    try:
        path = operation.render_path(params)
    except ValueError as exc:  # a "..", control character... that would change the URL
        return Rendered(row, key=key, error=f"request.path: {exc}")
    return Rendered(row, key=key, params=params, body=body, path=path)


def blank_columns(leaf: Leaf | None, values: dict[str, Any]) -> str | None:
    """``column 'sku' is NULL`` for the columns ``leaf`` reads that are NULL or empty text (the
    reason a key or path parameter failed), or None."""
    if leaf is None or leaf.ast is None:
        return None
    used, _ = columns_used(leaf.ast)
    blank = [
        f"column {c!r} is {'NULL' if values[c] is None else 'empty'}"
        for c in sorted(used)
        if c in values and (values[c] is None or (isinstance(values[c], str) and not values[c].strip()))
    ]
    return ", ".join(blank) or None


def key_blank(leaf: Leaf, values: dict[str, Any], reason: str = "") -> str | None:
    """Why a key did not render when a column it reads is NULL or empty, naming the column
    (``NULL in the key: column 'sku' is NULL; ...``); None when no column it reads is."""
    blank = blank_columns(leaf, values)
    if blank is None:
        return None
    what = "NULL in the key" if "NULL" in blank else "the key is empty"
    if reason and not reason.startswith(("a value in this text is NULL", "key is empty")):
        blank += f" ({reason})"  # the template's own words, e.g. `| require('sku')`'s
    return f"{what}: {blank}; fix the source or leave such rows out with `when:`"


def _text(value: Any, where: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise RenderError(f"{where} is empty")
    return text


@dataclass
class Plan:
    """What a run would do, with the spool holding every row."""

    pipeline: Pipeline
    spool: Spool
    counts: Counter[str] = field(default_factory=Counter)
    read: int = 0
    differ: int = 0  # insert mode: delivered keys whose request would now differ (not resent)
    cursor: Any = None  # the highest cursor value read, for incremental sources
    since: CursorRead | None = None  # the incremental read that was made, if any
    source: SourceConnector | None = None  # what was read

    @property
    def to_send(self) -> int:
        return sum(self.counts[v] for v in SEND)

    def sample(self, limit: int = 3) -> list[SpoolRow]:
        return self.spool.sample(SEND, limit)

    def describe_changes(self, row: SpoolRow) -> list[str]:
        if row.previous is None or row.request is None:
            return []
        old = {"path": row.previous.get("params"), "body": row.previous.get("body")}
        return changes(old, {"path": row.request.get("params"), "body": row.request.get("body")})


def build_plan(
    pipeline: Pipeline,
    source: SourceConnector,
    state: StateStore,
    spool: Spool,
    *,
    retry_failed: bool = False,
    cursor: CursorRead | None = None,
    stop: Callable[[], bool] | None = None,
) -> Plan:
    """Read ``source``, render every row into ``spool`` and classify it against ``state``."""
    plan = Plan(pipeline, spool, source=source, since=cursor)
    definition = definition_digest(pipeline)
    # the digests saved with delivered keys, all at once (None: too many, looked up by chunk)
    index = state.digest_map(pipeline.name, DIGEST_MAP_LIMIT)
    unchanged = _Unchanged(index)
    pending: list[_Part] = []
    waiting = held = 0
    for chunk in source.read_chunks(cursor, CHUNK):
        if stop is not None and stop():
            raise Interrupted("stopped while reading the source; nothing was sent")
        digests = row_digests(definition, chunk)
        marks = chunk.column(cursor.column) if cursor is not None else None
        if index is None:
            found = [d.hex() for d in digests if d is not None]
            same = state.lookup_digests(pipeline.name, found) if found else {}
        records: list[Any] = []  # (position in the chunk, record) of the rows kept in the spool
        render: list[int] = []  # the indexes in records of those to render (their record: None)
        aside: list[int] = []  # positions of rows found unchanged by digest, key not known
        if index is not None:
            seen = unchanged.seen
            for i, digest in enumerate(digests):
                if digest in index:  # saved with a delivered key: unchanged, not rendered
                    seen(digest)
                    aside.append(i)
                else:
                    render.append(len(records))
                    records.append((i, None))
        else:
            for i, digest in enumerate(digests):
                if digest is not None and (hit := same.get(digest.hex())) is not None:
                    origin = chunk.origin(i)
                    mark = encode_cursor(marks[i]) if marks is not None and marks[i] is not None else None
                    records.append((i, (hit[0], origin.rank, origin.batch, origin.label, mark)))
                else:
                    render.append(len(records))
                    records.append((i, None))
        if marks is not None:
            _advance(plan, marks)
        # rows to render wait for a few chunks' worth, to look their keys up together
        kept_aside = (aside, [digests[i] for i in aside], chunk.aside(aside)) if aside else None
        pending.append(_Part(chunk, digests, records, render, marks, kept_aside))
        waiting, held = waiting + len(render), held + len(chunk)
        if waiting >= RENDER_BATCH or held >= HOLD_ROWS:
            _flush(plan, state, pending, retry_failed, unchanged)
            pending, waiting, held = [], 0, 0
        plan.read += len(chunk)
    _flush(plan, state, pending, retry_failed, unchanged)
    spool.promote(unchanged.keys(state, pipeline.name))
    spool.settle_duplicates()
    plan.counts = spool.counts()
    return plan


def _advance(plan: Plan, marks: list[Any]) -> None:
    """The highest cursor value read so far."""
    values = [value for value in marks if value is not None]
    if values:
        top = max(values)
        if plan.cursor is None or top > plan.cursor:
            plan.cursor = top


_SEEN, _CLAIMED = 1, 2  # a row not rendered had the digest; a rendered row's key was saved with it


class _Unchanged:
    """Rows found unchanged by their digest are kept without their key (the spool's rows
    kept aside); the key matters only when another row has it too. Two such rows with one
    digest have one key; a rendered row whose key was saved with the digest of such a row
    has that row's key. Those digests are tracked here, their keys found at the end."""

    def __init__(self, index: dict[bytes, Any] | None):
        # per digest: None (neither yet), _SEEN or _CLAIMED (no key kept: memory stays flat)
        self.index = index
        self.resolve: dict[bytes, str | None] = {}  # digests of duplicate keys → the key, if known

    def seen(self, digest: bytes) -> None:
        assert self.index is not None
        if self.index[digest] is None:
            self.index[digest] = _SEEN
        else:  # seen again (same values: same key), or claimed by a rendered row's key
            self.resolve.setdefault(digest, None)

    def rendered(self, key: str, saved: str | None) -> None:
        """A rendered row has ``key``, whose delivered request came from a row of digest ``saved``."""
        if self.index is None or saved is None:
            return
        try:
            digest = bytes.fromhex(saved)
        except ValueError:
            return
        was = self.index.get(digest, _CLAIMED)
        if was != _CLAIMED:
            self.index[digest] = _CLAIMED
            if was == _SEEN:
                self.resolve[digest] = key

    def keys(self, state: StateStore, pipeline: str) -> dict[bytes, str]:
        unknown = [digest.hex() for digest, key in self.resolve.items() if key is None]
        found = state.lookup_digests(pipeline, unknown) if unknown else {}
        keys = {digest: key for digest, key in self.resolve.items() if key is not None}
        keys.update({bytes.fromhex(digest): hit[0] for digest, hit in found.items()})
        return keys


@dataclass
class _Part:
    """One chunk read: the records of the rows kept in the spool ((position in the chunk,
    record), None for the rows to render, at ``records[render]``), and the rows kept aside."""

    chunk: RowChunk
    digests: list[bytes | None]
    records: list[Any]
    render: list[int]
    marks: list[Any] | None
    aside: tuple[list[int], list[bytes], Any] | None


def _flush(
    plan: Plan, state: StateStore, parts: list[_Part], retry_failed: bool, unchanged: _Unchanged
) -> None:
    """Render the rows waiting in ``parts``, classify them against the state store (their keys
    looked up together), and put every part's records in the spool, in the order read."""
    pipeline = plan.pipeline
    upsert = pipeline.spec.mode == "upsert"
    rendered = [
        {at: render_row(pipeline, part.chunk.row(part.records[at][0])) for at in part.render}
        for part in parts
    ]
    keys = [r.key for items in rendered for r in items.values() if r.key is not None and r.error is None]
    known = state.lookup(pipeline.name, keys, with_request=upsert) if keys else {}
    for key in keys:
        if (state_row := known.get(key)) is not None:
            unchanged.rendered(key, state_row.source_digest)
    for part, items in zip(parts, rendered, strict=True):
        _classify(plan, part, items, known, retry_failed)
        plan.spool.add(len(part.chunk), part.records, part.aside)


def _classify(
    plan: Plan, part: _Part, rendered: dict[int, Rendered], known: dict[str, Any], retry_failed: bool
) -> None:
    """Put the records of ``part``'s rendered rows in their place."""
    pipeline = plan.pipeline
    method, name = pipeline.operation.method, pipeline.operation.name
    hold = pipeline.holds_in_doubt
    records, marks, digests = part.records, part.marks, part.digests
    for at, item in rendered.items():
        i = records[at][0]
        origin = item.row.origin
        value = marks[i] if marks is not None else None
        mark = encode_cursor(value) if value is not None else None
        base = (item.key, origin.rank, origin.batch, str(origin))
        if item.filtered:
            records[at] = (i, (*base, "filtered", None, None, None, None, None, mark, None, 0))
            continue
        if item.error is not None:
            records[at] = (i, (*base, "error", None, None, None, item.error, None, mark, None, 0))
            continue
        fp = fingerprint(name, item.params or {}, item.body)
        state_row = known.get(item.key)  # type: ignore[arg-type]
        verdict = classify(pipeline.spec.mode, state_row, fp, retry_failed=retry_failed, hold_in_doubt=hold)
        if verdict == "unchanged" and state_row is not None and state_row.fingerprint not in (None, fp):
            plan.differ += 1  # insert mode sends a key once: a later change is not resent
        previous = state_row.request if (verdict == "changed" and state_row is not None) else None
        reason = state_row.last_error if verdict in ("retry", "rejected", "held") and state_row else None
        request = canonical(item.request(method))
        status = state_row.status if state_row is not None else None
        # rendered unchanged: the digest is saved with the key, to skip rendering next time
        refresh = int(verdict == "unchanged" and status == "delivered")
        digest = digests[i]
        text = digest.hex() if digest is not None else None
        records[at] = (i, (*base, verdict, fp, request, previous, reason, status, mark, text, refresh))
