"""The model of ``config/hgsync.yaml``: the settings of one installation.

Each block is a pydantic model with ``extra="forbid"``, so a misspelt key is an error that
names the known ones; the field descriptions are the reference documentation
(``hgsync schema config`` prints them as JSON Schema for editors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from engine.definitions.receiver import ReceiverSettings
from engine.definitions.target_kinds import Target
from engine.logging import redact_text

DEFAULT_STATE = "sqlite:///.hgsync/state.db"


def check_db_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError(
            f"not a database URL like sqlite:///file.db or postgresql+psycopg://host/db ({exc})"
        ) from None
    try:
        url.get_dialect()  # the database kind; its driver is imported only when connecting
    except NoSuchModuleError:
        raise ValueError(
            f"unknown database kind {url.drivername!r} in {url.render_as_string()!r}; use e.g. "
            "sqlite:///file.db, postgresql+psycopg://host/db or mysql+pymysql://host/db"
        ) from None
    return value


DatabaseUrl = Annotated[str, AfterValidator(check_db_url)]


def describe_db_error(exc: Exception) -> str:
    """A database error in one line, without SQLAlchemy's background link or any password."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("\n(Background on this error")[0]
    return redact_text(" ".join(text.split()))


def resolve_url(url: str, home: Path) -> str:
    """A relative SQLite file path in ``url`` made absolute against ``home``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str((home / path).resolve()))
            return parsed.render_as_string(hide_password=False)
    return url


class LoggingSettings(BaseModel):
    """How log lines are written (to stderr)."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="the least severe level written"
    )
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json, console (readable), or auto: console on a terminal, json otherwise"
    )


class HttpAuth(BaseModel):
    """HTTP Basic credentials the status server asks for its page, status.json and buttons."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(..., min_length=1, description="the user name")
    password: SecretStr = Field(
        ..., min_length=8, description="the password; keep it out of the file: ${env:HGSYNC_STATUS_PASSWORD}"
    )


class AlertSettings(BaseModel):
    """Where the daemon sends alerts: a failed run, a pipeline file broken by an edit, failing
    rows over a threshold; once per incident, and again when it is over."""

    model_config = ConfigDict(extra="forbid")

    webhook: SecretStr = Field(
        ...,
        description="URL the alerts are POSTed to as JSON: a Slack incoming webhook, or any that "
        "takes JSON; keep it out of the file: ${env:HGSYNC_ALERT_WEBHOOK}",
    )
    failing_rows: int | None = Field(
        100, ge=1, description="alert when a pipeline's failing keys reach this many; null: never"
    )
    body: str | None = Field(
        None,
        description="Jinja template of the JSON body, with `alert` (pipeline, kind, state "
        "firing|resolved, summary, details, page) and the `tojson` filter; default Slack's "
        '{"text": ...}',
    )
    timeout: float = Field(10.0, gt=0, le=120, description="seconds to wait for the webhook's answer")

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value

    @field_validator("body")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            from jinja2 import TemplateSyntaxError
            from jinja2.sandbox import SandboxedEnvironment

            try:
                SandboxedEnvironment().parse(value)
            except TemplateSyntaxError as exc:
                raise ValueError(f"template line {exc.lineno}: {exc.message}") from None
        return value


class DaemonSettings(BaseModel):
    """How `hgsync daemon` runs."""

    model_config = ConfigDict(extra="forbid")

    http_host: str = Field("127.0.0.1", description="address of /healthz, /metrics and the status page")
    http_port: int | None = Field(8790, ge=0, le=65535, description="port of the status server; null: none")
    http_auth: HttpAuth | None = Field(
        None,
        description="user and password for the status page and its buttons (/healthz and /metrics stay "
        "open); without it the buttons work only when the server listens on a loopback address",
    )
    alerts: AlertSettings | None = Field(
        None, description="a webhook the daemon calls when something goes wrong"
    )
    misfire_grace: float = Field(
        300.0,
        ge=0,
        le=366 * 86400,
        allow_inf_nan=False,
        description="seconds after a missed run time within which the run still happens (once)",
    )
    stop_timeout: float = Field(
        30.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="seconds to let requests in flight finish after SIGTERM before stopping hard",
    )
    lease: float = Field(
        15.0,
        ge=3,
        le=3600,
        description="seconds without a heartbeat after which a standby daemon (on a PostgreSQL state "
        "store) takes over from the active one",
    )
    http_token: SecretStr | None = Field(
        None,
        description="a secret the status page, /status.json and /metrics require (Authorization: Bearer "
        "<secret>, or HTTP Basic with it as the password); /healthz stays open. Give it as ${env:NAME}",
    )
    http_host_names: list[str] = Field(
        default_factory=list,
        description="host names (a proxy's) the status server answers besides IP addresses and "
        "localhost; any other Host header is refused (DNS rebinding)",
    )
    http_show_row_data: bool = Field(
        False,
        description="show the reasons rows failed (which can quote customers' data) on the status page "
        "and /status.json; by default only keys, counts and origins",
    )


class Settings(BaseModel):
    """config/hgsync.yaml."""

    model_config = ConfigDict(extra="forbid")

    connections: dict[str, DatabaseUrl] = Field(
        default_factory=dict,
        description="named databases as SQLAlchemy URLs, e.g. sqlite:///demo/marketplace.db or "
        "postgresql+psycopg://user@host/db; relative SQLite paths are relative to the project folder",
    )
    targets: dict[str, Target] = Field(
        default_factory=dict,
        description="named APIs that pipelines send to: HepsiGlobal APIs (kind: hepsiglobal, the "
        "default) and marketplaces' webhook endpoints (kind: marketplace)",
    )
    state: str = Field(
        DEFAULT_STATE,
        description="the state store's SQLAlchemy URL: what was delivered, run history (SQLite or PostgreSQL)",
    )
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="log output")
    daemon: DaemonSettings = Field(default_factory=DaemonSettings, description="the scheduled daemon")
    receiver: ReceiverSettings | None = Field(
        None, description="the webhook receiver HG calls (`hgsync serve`; the daemon serves it too)"
    )

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str) -> str:
        url = make_url(check_db_url(value))
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError(
                "an in-memory state store forgets every delivery when hgsync stops (every run would "
                "send every row again), and hgsync's threads cannot share it; use a file, e.g. "
                "sqlite:///state/state.db"
            )
        return value
