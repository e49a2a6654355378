"""`hgsync init`: a new project folder, and shell completion of pipeline names.

Writes ``config/hgsync.yaml`` (every value from the environment, with defaults that point at
the built-in sandbox), one pipeline per operation asked for, and the JSON Schemas of both
kinds of file in ``schemas/``; each YAML file starts with the line that makes the YAML
language server (VS Code, Neovim, JetBrains...) complete and check it against its schema.
A pipeline's request is drafted from the operation's example: every leaf reads a column of
the same name (``{{ row.reason }}``), a list becomes a ``$each`` block. Files that exist are
left alone unless ``--force``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

CONFIG = """\
{schema_line}
# hgsync settings. Every value can come from the environment: ${{env:NAME}} or ${{env:NAME:-default}}.
# `hgsync schema config` prints every key with its meaning; `hgsync validate` checks this file.

connections:                 # named databases, as SQLAlchemy URLs
  marketplace: ${{env:MARKETPLACE_DB_URL:-sqlite:///marketplace.db}}

targets:                     # named HepsiGlobal APIs
  hepsiglobal:
    base_url: ${{env:HG_BASE_URL:-http://127.0.0.1:8765}}   # `hgsync sandbox` by default
    client_id: ${{env:HG_CLIENT_ID:-sandbox}}
    client_secret: ${{env:HG_CLIENT_SECRET:-sandbox}}
    rate_limit: ${{env:HG_RATE_LIMIT:-20/s}}

state: ${{env:HGSYNC_STATE_URL:-sqlite:///.hgsync/state.db}}
"""


def schema_line(path: str) -> str:
    return f"# yaml-language-server: $schema={path}"


def _template(value: Any, column: str, item: str = "row", top: bool = True) -> Any:
    """The example's shape with every leaf reading a column (``row.x``, or ``item.x`` in a
    list); a nested field's column is named by its path (``customer_name``)."""
    if isinstance(value, dict):
        return {k: _template(v, k if top else f"{column}_{k}", item, False) for k, v in value.items()}
    if isinstance(value, list):
        first = value[0] if value else ""
        return {"$each": f"{{{{ {item}.{column} | from_json }}}}", "$map": _template(first, "", "item")}
    return f"{{{{ {item}.{column} }}}}"


def pipeline_text(op: Any) -> str:
    """A draft pipeline for ``op`` (an :class:`engine.definitions.operations.Operation`)."""
    import yaml

    path = {p: f"{{{{ row.{p} }}}}" for p in op.path_params}
    body = _template(op.example, "") if op.example is not None else None
    key_column = op.path_params[-1] if op.path_params else next(iter(op.example or {"id": 0}))
    spec: dict[str, Any] = {
        "description": f"{op.title}: one request per row of the table",
        "source": {"sql": {"connection": "marketplace", "table": f"{op.name}_rows"}},
        "key": f"{{{{ row.{key_column} }}}}",
        "operation": op.name,
        "mode": "upsert" if op.idempotent else "insert",
        "request": {"path": path, **({"body": body} if body is not None else {})},
    }
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)
    return f"{schema_line('../schemas/pipeline.schema.json')}\n{text}"


def write_project(folder: Path, operations: list[str], force: bool) -> list[Path]:
    """Write the project's files; the paths written (existing ones are skipped unless ``force``)."""
    from engine.definitions.plugins import resolve
    from engine.definitions.schema import json_schema

    files: dict[Path, str] = {
        folder / "config" / "hgsync.yaml": CONFIG.format(
            schema_line=schema_line("../schemas/config.schema.json")
        ),
        folder / "schemas" / "pipeline.schema.json": json.dumps(json_schema("pipeline"), indent=2) + "\n",
        folder / "schemas" / "inbound.schema.json": json.dumps(json_schema("inbound"), indent=2) + "\n",
        folder / "schemas" / "config.schema.json": json.dumps(json_schema("config"), indent=2) + "\n",
    }
    for name in operations:
        op = resolve(name)
        files[folder / "pipelines" / f"{op.name.replace('_', '-')}.yaml"] = pipeline_text(op)
    written = []
    for path, text in files.items():
        if path.exists() and not force:
            click.echo(f"kept {path} (it exists; --force replaces it)", err=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def complete_pipeline(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion: the pipeline files of the project (``--home``, $HGSYNC_HOME or here)."""
    root = ctx.find_root()
    home = Path(root.params.get("home") or ".")
    folder = home / "pipelines"
    if not folder.is_dir():
        return []
    names = sorted({p.stem for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")]})
    return [n for n in names if n.startswith(incomplete)]
