"""JSON Schema of the files operators write, for editors (`hgsync schema pipeline|config`)."""

from __future__ import annotations

from typing import Any, Literal

from engine.definitions.pipeline_model import PipelineSpec
from engine.definitions.settings import Settings

SCHEMAS = {"pipeline": PipelineSpec, "config": Settings}


def json_schema(what: Literal["pipeline", "config"]) -> dict[str, Any]:
    """The JSON Schema of pipeline files or of config/hgsync.yaml."""
    return SCHEMAS[what].model_json_schema()
