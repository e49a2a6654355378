"""What an operation is: a named HTTP call with a method, a path template and a payload model.

Operations are data. Catalogs of them are registered by connectors through the
``hgsync.operations`` entry point group (:mod:`engine.definitions.plugins`), so that the
loader can check a pipeline's ``operation:`` without knowing any API; config corrects a
method or path with an :class:`~engine.definitions.targets.OperationOverride`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from engine.definitions.fields import changes_fields, derive_example, derive_model
from engine.definitions.targets import DuplicateAnswer, OperationOverride

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ResultFields:
    """Where a result webhook names the request it reports on, its outcome and the reason."""

    reference: str = "request_id"
    status: str = "status"
    reason: str = "reason"


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
    # warnings about a valid request that departs from the API's examples (never a rejection)
    advise: Callable[[Mapping[str, Any], Any], list[str]] | None = None
    direction: Literal["outbound", "inbound"] = "outbound"
    query: bool = False  # inbound: HG asks and the marketplace answers from its tables
    batch_limit: int | None = None  # most elements of ``list_field`` one call may carry
    list_field: str | None = None  # the body's list of entities (``items``, ``variants``), if any
    event_id_field: str | None = None  # a body field that identifies the event, where HG sends one
    answer: type[BaseModel] | None = None  # a query's answer (for ``query`` operations)
    # outbound, asynchronous: the field of HG's answer (its ``data``) naming the request, which
    # a later webhook reports the outcome of (Create Refund's ``request_id``)
    reference: str | None = None
    # inbound: this webhook reports the outcome of such a request (Refund create result)
    result: ResultFields | None = None
    # how sure the catalog is of the body's fields: config may rename, retype or make optional
    # the fields of a body the docs leave "inferred" or "unknown" (engine/definitions/fields.py)
    fields_certainty: str = "doc"
    field_types: Mapping[str, Any] = field(default_factory=dict)  # `types:` names → annotations
    corrected: OperationOverride | None = None  # the field corrections config made, if any

    def reference_in(self, data: Any) -> str | None:
        """The reference HG's answer ``data`` carries, as text, when the operation has one."""
        if self.reference is None or not isinstance(data, Mapping):
            return None
        value = data.get(self.reference)
        return None if value is None or isinstance(value, dict | list) or value == "" else str(value)[:200]

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
        path = _PARAM.sub(lambda m: quote(str(params[m.group(1)]), safe=""), self.path)
        # percent-encoding keeps "." and "..", which URL normalisation would then remove
        # (another endpoint); control characters would be sent as %00, %0A...
        for name in wanted:
            text = str(params[name])
            if _CONTROL.search(text):
                raise ValueError(f"path parameter {name} contains a control character ({text!r:.60})")
        made = zip(self.path.split("/"), path.split("/"), strict=True)  # quoted values hold no "/"
        bad = next((seg for written, seg in made if "{" in written and seg in ("", ".", "..")), None)
        if bad is not None:
            raise ValueError(
                f"{self.name}: the path parameters make a path segment {bad!r} ({path}), which would "
                "send the request to another URL"
            )
        return path

    def with_override(self, override: OperationOverride | None) -> Operation:
        """This operation with the corrections an operator configured."""
        if override is None or override == OperationOverride():
            return self
        answers = override.duplicate_answers
        model, example, corrected = self.model, self.example, None
        if self.model is not None and changes_fields(override):
            model = derive_model(self.name, self.model, override, self.field_types)
            example, corrected = derive_example(self.example, model, override), override
        return replace(
            self,
            method=override.method or self.method,
            path=override.path or self.path,
            certainty="config" if override.path else self.certainty,
            duplicate_answers=self.duplicate_answers if answers is None else tuple(answers),
            reference=override.reference or self.reference,
            model=model,
            example=example,
            corrected=corrected,
        )

    def is_duplicate_answer(self, status: int | None, message: str | None) -> bool:
        """Whether HG's answer means it already has this request."""
        return any(answer.matches(status, message) for answer in self.duplicate_answers)

    def advice(self, params: Mapping[str, Any], body: object) -> list[str]:
        """Warnings about a request that fits the model but not the API's examples."""
        return self.advise(params, body) if self.advise is not None else []

    def validate(self, body: object) -> list[str]:
        """Problems with ``body``, one ``field.path: what is wrong`` line each; [] when valid.
        For a request hgsync sends the line ends with the template fix when one is known; a
        webhook's body is HG's, so its lines do not."""
        if self.direction == "inbound":
            return [f"{issue.where}: {issue.message}" for issue in self.issues(body)]
        return [str(issue) for issue in self.issues(body)]

    def issues(self, body: object) -> list[BodyIssue]:
        """Problems with ``body``, each at its field, with the fix when one is known."""
        if self.model is None:
            if body in (None, {}):
                return []
            return [BodyIssue((), f"{self.name} ({self.method}) takes no body", "no_body")]
        try:
            self.model.model_validate(body)
        except ValidationError as exc:
            return [
                BodyIssue(tuple(err["loc"]), _message(err), err["type"], err.get("input"))
                for err in exc.errors()
            ]
        return []


# what an operator writes in a template to fix a problem of this kind (pydantic's error types,
# and the models' own: json_number, datetime_offset, money_places)
FIXES = {
    "datetime_offset": "`| iso8601` (naming the source's time zone: `| iso8601('Europe/Istanbul')`)",
    "int_type": "`| to_int`",
    "int_parsing": "`| to_int`",
    "int_from_float": "`| to_int`",
    "money_places": "`| money`",
    "string_type": "`| string`",
}


@dataclass(frozen=True)
class BodyIssue:
    """One problem of a request body: where (``("items", 0, "sku")``), what, its kind, the value."""

    loc: tuple[int | str, ...]
    message: str
    kind: str
    value: Any = None

    @property
    def fix(self) -> str | None:
        """What to write in the template, e.g. ``| money``; None when there is no one fix."""
        if self.value is None:
            return None
        if self.kind == "json_number" and isinstance(self.value, str):
            return "`| money` for an amount, `| decimal` for another number"
        if self.kind == "literal_error" and "'USD'" in self.message:
            return "amounts go in USD: convert them with `| usd(row.rate)` and send `currency: USD`"
        return FIXES.get(self.kind)

    @property
    def where(self) -> str:
        return _loc(self.loc)

    def __str__(self) -> str:
        fix = self.fix
        return f"{self.where}: {self.message}" + (f" → {fix}" if fix else "")


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing":
        return "required"
    if err.get("input", "") is None and str(err["type"]).endswith("_type"):
        return f"is null: {str(err['msg'])[0].lower()}{str(err['msg'])[1:]} (a NULL in the source?)"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"])


class UnknownOperationError(KeyError, ValueError):
    """An operation name that is not in the catalog; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
