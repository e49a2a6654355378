"""Digests that let a run tell an unchanged row without rendering it.

A row's request is a function of the row's values and of the pipeline's definition: its
file (templates, ``when``, mode...), the operation as configured (name, method, path, body
model: config can correct them) and the mapping code that renders (its templates' filters).
:func:`definition_digest` hashes the second part once per run; :func:`row_digest` hashes a
row's values with it. The state store keeps the digest of the row that rendered a key's
delivered request: a row with the same digest would render to the very same request.
Changing anything of the definition changes every digest, so every row is rendered again.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

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


def row_digest(definition: bytes, values: dict[str, Any]) -> str:
    """The digest of one row's values (names, types and values, in the source's order)."""
    text = repr(values).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=DIGEST_BYTES, key=definition).hexdigest()
