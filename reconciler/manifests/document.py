"""One YAML document to one model: the envelope rules, and pydantic's errors as `Problem`s.

Each error names the object and the field (`Site example.com: spec.aliases[1]: ...`), points at the
line of the offending key or value, and carries a hint on how to fix it.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.manifests.models import API_VERSION, KINDS, Document
from reconciler.manifests.yamldoc import Problem, RawDocument, position_of

__all__ = ["DocumentResult", "check_document"]

_TYPE_TAGS = {"str", "int", "bool", "float", "list", "dict", "tuple", "none", "literal"}

_HINTS = {
    "string_type": "write text; quote it if it looks like a number, a date or true/false",
    "int_type": "write a whole number without quotes",
    "int_parsing": "write a whole number without quotes",
    "bool_type": "write true or false, without quotes",
    "dict_type": "write a mapping: `key: value` lines indented under it",
    "model_type": "write a mapping: `key: value` lines indented under it",
    "model_attributes_type": "write a mapping: `key: value` lines indented under it",
    "tuple_type": "write a list: `- item` lines, or [a, b]",
    "list_type": "write a list: `- item` lines, or [a, b]",
    "greater_than_equal": "raise the number",
    "less_than_equal": "lower the number",
    "string_too_long": "shorten it",
    "too_long": "shorten it",
    "string_pattern_mismatch": "fix the value's format",
}


@dataclass(frozen=True)
class DocumentResult:
    model: Document | None
    problems: tuple[Problem, ...] = ()
    skipped: bool = False


def _name_of(data: dict[str, Any]) -> str:
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f" {name}" if isinstance(name, str) else ""


def _refused(
    doc: RawDocument, loc: list[str | int], message: str, hint: str, *, value: bool = True
) -> DocumentResult:
    line, col = position_of(doc, loc, value=value) if loc else (doc.line, doc.column)
    return DocumentResult(None, (Problem(doc.path, line, col, message, hint),))


def check_document(doc: RawDocument) -> DocumentResult:
    """Validate one document's envelope and fields."""
    data = doc.data
    if not isinstance(data, dict):
        return _refused(
            doc,
            [],
            "a manifest must be a mapping with apiVersion, kind, metadata and spec",
            f"start the document with `apiVersion: {API_VERSION}`",
        )
    api = data.get("apiVersion")
    kind = data.get("kind")
    if api is None and isinstance(kind, str) and kind in KINDS:
        return _refused(
            doc,
            ["kind"],
            f"{kind}{_name_of(data)}: apiVersion is missing",
            f"add `apiVersion: {API_VERSION}` above `kind`",
            value=False,
        )
    if not isinstance(api, str) or not api.startswith("reconciler/"):
        return DocumentResult(None, skipped=True)
    if api != API_VERSION:
        return _refused(
            doc,
            ["apiVersion"],
            f"unknown apiVersion {api!r}",
            f"this reconciler reads {API_VERSION}; upgrade it, or write {API_VERSION}",
        )
    if not isinstance(kind, str) or kind not in KINDS:
        return _refused(
            doc,
            ["kind"],
            f"unknown kind {kind!r}" if kind is not None else "kind is missing",
            "use one of: " + ", ".join(KINDS),
        )
    model_cls = KINDS[kind]
    try:
        return DocumentResult(model_cls.model_validate(data))
    except ValidationError as exc:
        label = f"{kind}{_name_of(data)}"
        problems = tuple(_problem(doc, label, model_cls, err) for err in exc.errors())
        return DocumentResult(None, problems)


def _clean_loc(loc: tuple[str | int, ...]) -> list[str | int]:
    return [p for p in loc if not (isinstance(p, str) and (p in _TYPE_TAGS or "[" in p))]


def _field_path(loc: list[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _problem(
    doc: RawDocument, label: str, model_cls: type[BaseModel], err: ErrorDetails
) -> Problem:
    loc = _clean_loc(tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    hint = str(ctx.get("hint", "")) or _HINTS.get(kind, "")
    message = err["msg"]
    if kind == "extra_forbidden":
        line, col = position_of(doc, loc)
        allowed = _fields_at(model_cls, loc[:-1])
        field = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(field, allowed, n=1)
        message = f"unknown field {field!r}"
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif allowed:
            hint = "remove it; the fields allowed here are: " + ", ".join(allowed)
        else:
            hint = "remove it"
    elif kind == "missing":
        line, col = position_of(doc, loc)
        message = f"required field {str(loc[-1])!r} is missing" if loc else "a field is missing"
        hint = f"add `{loc[-1]}: ...`" if loc else hint
    elif kind == "literal_error":
        line, col = position_of(doc, loc, value=True)
        expected = str(ctx.get("expected", ""))
        message = f"{_short(err.get('input'))} is not allowed here"
        hint = f"use one of: {expected}" if expected else hint
    else:
        line, col = position_of(doc, loc, value=True)
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
    where = _field_path(loc)
    prefix = f"{label}: {where}: " if where else f"{label}: "
    return Problem(doc.path, line, col, prefix + message, hint)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model_cls: type[BaseModel], loc: list[str | int]) -> list[str]:
    """The manifest field names (aliases) allowed at `loc` inside `model_cls`."""
    current: Any = model_cls
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_in(current)
        if model is None:
            return []
        by_alias = {(f.alias or n): f for n, f in model.model_fields.items()}
        field = by_alias.get(part)
        if field is None:
            return []
        current = field.annotation
    model = _model_in(current)
    if model is None:
        return []
    return [(f.alias or n) for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, dict, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
