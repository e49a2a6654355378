"""JSON Schema of the files operators write, for editors (`hgsync schema pipeline|config`)."""

from __future__ import annotations

from typing import Any, Literal

from engine.definitions.pipeline_model import PipelineSpec
from engine.definitions.plugins import known_sources
from engine.definitions.settings import Settings

SCHEMAS = {"pipeline": PipelineSpec, "config": Settings}


def json_schema(what: Literal["pipeline", "config"]) -> dict[str, Any]:
    """The JSON Schema of pipeline files or of config/hgsync.yaml. A pipeline's ``source`` has
    one key, a source type, whose block is that type's settings (``csv``: ``datetime_format``...)."""
    schema = SCHEMAS[what].model_json_schema()
    if what == "pipeline":
        kinds = {name: cls.Config.model_json_schema() for name, cls in sorted(known_sources().items())}
        for kind in kinds.values():  # references are resolved from the root: keep definitions there
            schema.setdefault("$defs", {}).update(kind.pop("$defs", {}))
        source = schema["properties"]["source"]
        source.update({"type": "object", "properties": kinds, "additionalProperties": False})
    return schema
