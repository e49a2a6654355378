"""What an operation is: a named HTTP call with a method, a path template and a payload model.

Operations are data. Catalogs of them are registered by connectors through the
``hgsync.operations`` entry point group (:mod:`engine.definitions.plugins`), so that the
loader can check a pipeline's ``operation:`` without knowing any API; config corrects a
method or path with an :class:`~engine.definitions.targets.OperationOverride`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from engine.definitions.targets import DuplicateAnswer, OperationOverride

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Operation:
    """One operation of an API; ``describe(op)`` renders it for ``hgsync ops NAME``.

    ``direction`` says who calls whom: ``outbound`` operations are requests hgsync sends
    (MP→HG, through outbound pipelines); ``inbound`` ones are webhooks HG sends to the
    marketplace, which hgsync receives (``hgsync serve``) and applies through inbound
    pipelines. An inbound ``query`` is a question HG asks (answered from SQL), not an event.
    """

    name: str
    title: str
    method: str
    path: str
    model: type[BaseModel] | None
    certainty: str
    idempotent: bool
    pipeline: bool = True
    description: str = ""
    example: dict[str, Any] | None = None
    # for a non-idempotent operation: what a run does with a request whose answer was lost
    # (resend it with the same idempotency key, or hold it for a person); pipelines may override
    in_doubt: Literal["resend", "hold"] = "resend"
    duplicate_answers: tuple[DuplicateAnswer, ...] = ()  # "already have it" answers to a resend
    direction: Literal["outbound", "inbound"] = "outbound"
    query: bool = False  # inbound: HG asks and the marketplace answers from its tables
    batch_limit: int | None = None  # most elements of ``list_field`` one call may carry
    list_field: str | None = None  # the body's list of entities (``items``, ``variants``), if any
    event_id_field: str | None = None  # a body field that identifies the event, where HG sends one
    answer: type[BaseModel] | None = None  # a query's answer (for ``query`` operations)

    @property
    def path_params(self) -> tuple[str, ...]:
        """The ``{names}`` in the path template, in order, each once."""
        return tuple(dict.fromkeys(_PARAM.findall(self.path)))

    def render_path(self, params: Mapping[str, object]) -> str:
        """The path with each ``{name}`` replaced by ``str(params[name])``, URL-quoted (``/`` too)."""
        wanted = self.path_params
        missing = [name for name in wanted if name not in params]
        extra = sorted(str(name) for name in params if name not in wanted)
        empty = [n for n in wanted if n in params and (params[n] is None or str(params[n]) == "")]
        issues = []
        if missing:
            issues.append(f"missing path parameter(s): {', '.join(missing)}")
        if extra:
            issues.append(f"unexpected path parameter(s): {', '.join(extra)}")
        if empty:
            issues.append(f"empty path parameter(s): {', '.join(empty)}")
        if issues:
            expected = ", ".join(wanted) or "none"
            raise ValueError(f"{self.name} {self.path}: {'; '.join(issues)} (expected: {expected})")
        return _PARAM.sub(lambda m: quote(str(params[m.group(1)]), safe=""), self.path)

    def with_override(self, override: OperationOverride | None) -> Operation:
        """This operation with the corrections an operator configured."""
        if override is None or override == OperationOverride():
            return self
        answers = override.duplicate_answers
        return replace(
            self,
            method=override.method or self.method,
            path=override.path or self.path,
            certainty="config" if override.path else self.certainty,
            duplicate_answers=self.duplicate_answers if answers is None else tuple(answers),
        )

    def is_duplicate_answer(self, status: int | None, message: str | None) -> bool:
        """Whether HG's answer means it already has this request."""
        return any(answer.matches(status, message) for answer in self.duplicate_answers)

    def validate(self, body: object) -> list[str]:
        """Problems with ``body``, one ``field.path: what is wrong`` line each; [] when valid."""
        if self.model is None:
            if body in (None, {}):
                return []
            return [f"body: {self.name} ({self.method}) takes no body"]
        try:
            self.model.model_validate(body)
        except ValidationError as exc:
            return [f"{_loc(err['loc'])}: {_message(err)}" for err in exc.errors()]
        return []


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing":
        return "required"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"])


class UnknownOperationError(KeyError, ValueError):
    """An operation name that is not in the catalog; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
