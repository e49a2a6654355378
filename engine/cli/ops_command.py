"""`hgsync ops`: the operation catalog as this project's config corrects it.

Config is read when it can be: a target's ``operations:`` corrections (method, path, fields,
choices) and ``receiver.operations`` are applied, so what is shown is what a run sends and
checks. A config that cannot be read is named on stderr, and the catalog is shown as built in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli.context import EXIT_CONFIG, Context

if TYPE_CHECKING:
    from engine.definitions.operations import Operation
    from engine.definitions.settings import Settings


def read_settings(home: Path) -> tuple[Settings | None, str | None]:
    """The project's settings, or None and why not (None too when there is no config file)."""
    from engine.definitions.loader import CONFIG_FILE, load_settings

    if not (home / CONFIG_FILE).exists():
        return None, None
    settings, doc = load_settings(home)
    if settings is None:
        errors = [p for p in doc.problems if p.severity == "error"]
        return (
            None,
            f"{CONFIG_FILE} has {len(errors)} problem(s) (`hgsync validate` lists them); first: {errors[0]}",
        )
    return settings, None


def pick_target(settings: Settings, wanted: str | None, operation: str | None = None) -> str | None:
    """The target whose corrections apply: ``wanted``, the only one, or (with several) the
    first that corrects ``operation``. A ``wanted`` that is not configured is a usage error."""
    names = list(settings.targets)
    if wanted is not None:
        if wanted not in settings.targets:
            raise click.BadParameter(
                f"no target {wanted!r} in config (targets: {', '.join(names) or 'none'})"
            )
        return wanted
    if len(names) == 1:
        return names[0]
    correcting = [n for n in names if operation in settings.targets[n].operations]
    return correcting[0] if correcting else None


def effective(settings: Settings | None, target: str | None) -> dict[str, Operation]:
    """Every operation, with the corrections of ``target`` and of ``receiver.operations`` (of a
    marketplace target: its own corrections of the webhooks it is pushed)."""
    from engine.definitions.plugins import known_operations
    from engine.definitions.target_kinds import MarketplaceTarget

    catalog = known_operations()
    if settings is None:
        return dict(catalog)
    chosen = settings.targets[target] if target is not None else None
    outbound = chosen.operations if chosen is not None else {}
    inbound = settings.receiver.operations if settings.receiver is not None else {}
    if isinstance(chosen, MarketplaceTarget):  # it pushes webhooks: its corrections are theirs
        outbound, inbound = {}, chosen.operations
    return {
        name: op.with_override((inbound if op.direction == "inbound" else outbound).get(name))
        for name, op in catalog.items()
    }


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="The catalog (or one operation) as JSON.")
@click.option(
    "--target",
    help="Show the corrections of this target of config/hgsync.yaml (default: the only one, or the "
    "first that corrects NAME).",
)
@click.pass_obj
def ops(obj: Context, name: str | None, as_json: bool, target: str | None) -> None:
    """List the HepsiGlobal operations, both directions (what hgsync sends to HG, the webhooks HG
    sends that hgsync receives), or show one (method, path, fields, example), as config corrects
    them."""
    from engine.cli.ops_text import describe, listing
    from engine.definitions.operations import UnknownOperationError
    from engine.definitions.plugins import resolve

    settings, why = read_settings(obj.home)
    if why is not None:
        click.echo(f"note: {why}; showing the catalog without config's corrections", err=True)
    chosen = pick_target(settings, target, name) if settings is not None else None
    catalog = effective(settings, chosen)
    if name is None:
        if as_json:
            click.echo(json.dumps([_summary(o) for o in catalog.values()], indent=2))
        else:
            click.echo(listing(catalog.values()))
        return
    try:
        resolve(name)  # the message for an unknown name, with "did you mean"
    except UnknownOperationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    op = catalog[name]
    origin = _origin(settings, chosen, op)
    if as_json:
        extra = {
            "schema": op.model.model_json_schema() if op.model else None,
            "answer_schema": op.answer.model_json_schema() if op.answer else None,
            "example": op.example,
            "corrected_by": origin,
        }
        click.echo(json.dumps({**_summary(op), **extra}, indent=2))
        return
    click.echo(describe(op, origin))


def _summary(op: Operation) -> Mapping[str, object]:
    return {
        "name": op.name,
        "title": op.title,
        "method": op.method,
        "path": op.path,
        "certainty": op.certainty,
        "pipeline": op.pipeline,
        "direction": op.direction,
        "query": op.query,
        "batch_limit": op.batch_limit,
    }


def _origin(settings: Settings | None, target: str | None, op: Operation) -> str | None:
    """Where config corrects ``op`` (``targets.hepsiglobal.operations.NAME``), if it does."""
    if settings is None:
        return None
    if op.direction == "inbound":
        found = settings.receiver is not None and op.name in settings.receiver.operations
        return f"receiver.operations.{op.name}" if found else None
    if target is not None and op.name in settings.targets[target].operations:
        return f"targets.{target}.operations.{op.name}"
    return None
