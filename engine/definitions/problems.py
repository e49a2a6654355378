"""pydantic validation errors turned into ``file:line:col path: message`` problems."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.definitions.yamldoc import Loc, YamlDoc, format_loc
from engine.errors import Problem


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a choice is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold, Optional and unions spread out."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def _has(candidate: Any, name: str) -> bool:
    return (
        isinstance(candidate, type)
        and issubclass(candidate, BaseModel)
        and _field(candidate, name) is not None
    )


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model found at ``loc`` inside ``model``, following dicts, lists and Optionals."""
    current: list[Any] = [model]
    for part in loc:
        named = [c for c in current if isinstance(part, str) and getattr(c, "__name__", None) == part]
        if named:  # a union's member, by the name pydantic gives it in an error's location
            current = named
            continue
        if isinstance(part, str) and part[:1].isupper() and not any(_has(c, part) for c in current):
            continue  # another union member's name (``str``, ``list[...]`` are not capitalised)
        following: list[Any] = []
        for candidate in current:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(part, str):
                annotation = _field(candidate, part)
                if annotation is not None:
                    following.extend(_unwrap(annotation))
            origin = typing.get_origin(candidate)
            if origin is dict and isinstance(part, str):
                following.extend(_unwrap(typing.get_args(candidate)[1]))
            elif origin is list and isinstance(part, int):
                following.extend(_unwrap(typing.get_args(candidate)[0]))
        current = following
    for candidate in current:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def known_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _message(error: Any, model: type[BaseModel], loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = model_at(model, loc[:-1])
        keys = known_keys(parent) if parent else []
        listing = f" (known: {', '.join(keys)})" if keys else ""
        name = str(loc[-1]) if loc else "?"
        return f"unknown key {name!r}{listing}{suggest(name, keys)}"
    if kind == "missing":
        return "required, but missing"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message


def validation_problems(
    doc: YamlDoc, exc: ValidationError, model: type[BaseModel], prefix: Loc = ()
) -> list[Problem]:
    """One problem per pydantic error, placed at the YAML node it is about.

    ``prefix`` is where the validated block sits in the file (``("source", "sql")``).
    """
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        members = loc  # with the union members' names, to find the model a key belongs to
        # pydantic puts a union's member name in loc; keep only real keys and indexes (a
        # capitalised key the file does hold, such as a misspelt `Key:`, is a real key)
        kept: list[str | int] = []
        for part in loc:
            if isinstance(part, int) or not part[:1].isupper() or (*prefix, *kept, part) in doc.keys:
                kept.append(part)
        loc = tuple(kept)
        kind = error["type"]
        if kind == "target_kind" and (*prefix, *loc, "kind") in doc.keys:
            loc = (*loc, "kind")  # a target's unknown kind: at its kind
        full = (*prefix, *loc)
        on_key = kind == "extra_forbidden"
        where = full if kind != "missing" else full[:-1]
        problem = doc.problem(where, _message(error, model, members), key=on_key)
        problems.append(
            Problem(
                problem.file, problem.line, problem.col, format_loc(full), problem.message, problem.severity
            )
        )
    return problems
