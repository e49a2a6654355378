"""Digests that let a run tell an unchanged row without rendering it.

A row's request is a function of the row's values and of the pipeline's definition: its
file (templates, ``when``, mode...), the operation as configured (name, method, path, body
model: config can correct them) and the mapping code that renders (its templates' filters).
:func:`definition_digest` hashes the second part once per run; :func:`row_digests` hashes
rows' values with it. The state store keeps the digest of the row that rendered a key's
delivered request: a row with the same digest would render to the very same request.
Changing anything of the definition changes every digest, so every row is rendered again.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from connectors.sources.base import RowChunk, TupleChunk
from engine.definitions.pipeline import Pipeline

DIGEST_BYTES = 16


@cache
def _mapping_code() -> bytes:
    """The rendering code itself (a new hgsync may render differently): its source files."""
    import engine.mapping

    folder = Path(engine.mapping.__file__).parent
    digest = hashlib.blake2b()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def _model_schema(model: Any) -> str:
    if model is None:
        return ""
    try:
        return json.dumps(model.model_json_schema(), sort_keys=True, default=str)
    except Exception:  # a model pydantic cannot describe: its name stands in
        return f"{model.__module__}.{model.__qualname__}"


def definition_digest(pipeline: Pipeline) -> bytes:
    """What the rendering of any row of ``pipeline`` depends on, besides the row (64 bytes)."""
    operation = pipeline.operation
    parts = [
        pipeline.name,
        pipeline.digest,  # the file's bytes
        pipeline.spec.mode,
        operation.name,
        operation.method,
        operation.path,
        _model_schema(operation.model),
    ]
    digest = hashlib.blake2b(_mapping_code())
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.digest()


def row_digests(definition: bytes, chunk: RowChunk) -> list[bytes | None]:
    """The digest of each row of ``chunk`` (its column names, and its values' types and values,
    in the source's order), None for a row the source could not read whole."""
    if isinstance(chunk, TupleChunk):  # one set of columns: hashed once
        base = hashlib.blake2b(_names(chunk.names), digest_size=DIGEST_BYTES, key=definition)
        digests: list[bytes | None] = []
        for values in chunk.values:
            digest = base.copy()
            digest.update(repr(values).encode("utf-8", "surrogatepass"))
            digests.append(digest.digest())
        return digests
    return [
        None
        if record is None
        else hashlib.blake2b(
            _names(record[0]) + repr(record[1]).encode("utf-8", "surrogatepass"),
            digest_size=DIGEST_BYTES,
            key=definition,
        ).digest()
        for record in chunk.records()
    ]


def _names(names: tuple[str, ...]) -> bytes:
    return repr(names).encode("utf-8", "surrogatepass") + b"\0"
