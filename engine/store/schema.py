"""The state store's tables (SQLAlchemy Core), one per concern, all prefixed ``hgsync_``.

Kept in one module so that the schema can be read, and versioned, at a glance; the modules
beside it hold the reads and writes of each table.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1

metadata = sa.MetaData()
_ts = sa.DateTime(timezone=True)

meta = sa.Table(
    "hgsync_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
deliveries = sa.Table(
    "hgsync_deliveries",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    # delivered | rejected | failed | sending (on the wire) | in_doubt (the answer was lost)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(64)),  # of the last delivered request
    sa.Column("request", sa.Text),  # the last delivered request, JSON
    sa.Column("attempted_fingerprint", sa.String(64)),  # of the last request tried
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # tries of that request, over runs
    sa.Column("last_status", sa.Integer),  # HTTP status of the last try
    sa.Column("last_error", sa.Text),  # or, for a delivered key, a note ("duplicate refused by HG")
    sa.Column("idempotency_key", sa.String(64)),  # of the last request tried
    sa.Column("origin", sa.Text),
    sa.Column("run_id", sa.String(40)),
    sa.Column("delivered_at", _ts),
    sa.Column("updated_at", _ts, nullable=False),
    # of the source row and the pipeline's definition that rendered the delivered request; set
    # only while the key is delivered, so a run can tell an unchanged row without rendering it
    sa.Column("source_digest", sa.String(40)),
    # what HG answered to the last delivered request (its ``data``, JSON), and the id in it that
    # a later webhook names (Create Refund's request id: the refund's result is matched by it)
    sa.Column("response", sa.Text),
    sa.Column("reference", sa.String(200)),
    sa.Column("response_state", sa.String(16)),  # pending: the response: block has yet to apply it
    sa.Index("ix_hgsync_deliveries_status", "pipeline", "status"),
    sa.Index("ix_hgsync_deliveries_digest", "pipeline", "source_digest"),
    sa.Index("ix_hgsync_deliveries_reference", "reference"),
    sa.Index("ix_hgsync_deliveries_response", "pipeline", "response_state"),
)
runs = sa.Table(
    "hgsync_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),  # cli | daemon
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | interrupted | error
    sa.Column("started_at", _ts, nullable=False),
    sa.Column("finished_at", _ts),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),
    sa.Column("message", sa.Text),
    sa.Index("ix_hgsync_runs_pipeline", "pipeline", "started_at"),
)
row_errors = sa.Table(
    "hgsync_row_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", _ts, nullable=False),
)
cursors = sa.Table(
    "hgsync_cursors",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("column_name", sa.String(200), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # engine.outbound.cursor.encode()
    sa.Column("run_id", sa.String(40)),
    sa.Column("updated_at", _ts, nullable=False),
)
files = sa.Table(
    "hgsync_files",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # archived | rejected
    sa.Column("rows", sa.Integer, nullable=False, default=0),
    sa.Column("detail", sa.Text),
    sa.Column("processed_at", _ts, nullable=False),
)
locks = sa.Table(
    "hgsync_locks",
    metadata,
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", _ts, nullable=False),
    sa.Column("heartbeat_at", _ts, nullable=False),
)
inbox = sa.Table(
    "hgsync_inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the order of arrival
    sa.Column("event_id", sa.String(200), nullable=False, unique=True),
    sa.Column("operation", sa.String(100), nullable=False),
    # for events HG sent without an id: a hash of operation and body (repeats within a window)
    sa.Column("content_hash", sa.String(64)),
    sa.Column("body", sa.Text, nullable=False),  # the event as received, JSON
    # pending (to apply) | applied | failed (gave up: hgsync inbox replay) | unrouted (no pipeline)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pipeline", sa.String(200)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", _ts),
    sa.Column("error", sa.Text),
    sa.Column("received_at", _ts, nullable=False),
    sa.Column("applied_at", _ts),
    sa.Index("ix_hgsync_inbox_status", "status", "operation", "id"),
    sa.Index("ix_hgsync_inbox_hash", "content_hash", "received_at"),
)
results = sa.Table(
    "hgsync_results",
    metadata,
    # the outcome HG reported later, by webhook, of an asynchronous request (a refund): kept by the
    # reference it names, so a result that arrives before its request's answer is recorded
    # still matches it
    sa.Column("reference", sa.String(200), primary_key=True),
    sa.Column("operation", sa.String(100), nullable=False),  # the webhook that reported it
    sa.Column("status", sa.String(100), nullable=False),  # as HG gave it, e.g. ACCEPTED, REJECTED
    sa.Column("reason", sa.Text),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("received_at", _ts, nullable=False),
)
