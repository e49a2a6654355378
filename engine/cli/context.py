"""What every command shares: the project and state store it works on, and how an error
ends it (a message, a remedy, an exit code).

Imports of the engine (SQLAlchemy, pydantic, the loader) happen inside the functions that
need them, so that `hgsync --help`, `--version` and shell completion start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from engine.errors import ConfigError, CredentialsRefused, HgsyncError, LockedError, SourceConfigError

if TYPE_CHECKING:
    from engine.definitions.loader import Project
    from engine.store import StateStore

EXIT_OK, EXIT_ROWS_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3


def fail(exc: HgsyncError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    if exc.remedy:
        click.echo(f"  → {exc.remedy}", err=True)
    if isinstance(exc, ConfigError | CredentialsRefused | SourceConfigError):
        sys.exit(EXIT_CONFIG)
    sys.exit(EXIT_LOCKED if isinstance(exc, LockedError) else EXIT_ROWS_FAILED)


class Context:
    def __init__(self, home: Path, log_level: str | None, log_format: str | None):
        self.home = home
        self.log_level = log_level
        self.log_format = log_format

    def project(self, *, columns: bool = False, strict: bool = True) -> Project:
        from engine.definitions.loader import load_project

        project = load_project(self.home, columns=columns)
        if project.settings is not None:
            settings = project.settings.logging
            fmt = self.log_format or settings.format
            from engine import logging as hglog

            hglog.configure(
                json=None if fmt == "auto" else fmt == "json", level=self.log_level or settings.level
            )
        if strict and project.settings is None:
            raise ConfigError(project.errors)
        return project

    def state(self, project: Project) -> StateStore:
        from engine.definitions.settings import resolve_url
        from engine.store import StateStore

        assert project.settings is not None
        return StateStore(resolve_url(project.settings.state, project.home))


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HgsyncError as exc:
            fail(exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BaseException as exc:  # asyncio's CancelledError: asyncio is loaded only by commands using it
            loaded = sys.modules.get("asyncio")
            if loaded is None or not isinstance(exc, loaded.CancelledError):
                raise
            click.echo("interrupted", err=True)
            sys.exit(130)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper
