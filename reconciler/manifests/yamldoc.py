"""YAML documents with positions: parse manifest files and find the line of any field.

ruamel.yaml keeps the line and column of every key, value and list item, so that every problem can
be reported as `path:line:col`. Parsing never raises: syntax errors become `Problem`s.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = ["MAX_FILE_BYTES", "Problem", "RawDocument", "parse_file", "position_of"]

MAX_FILE_BYTES = 1 << 20
_MAX_NODES = 100_000


@dataclass(frozen=True)
class Problem:
    """One finding of validation, with its place in the repository (1-based line and column)."""

    path: str
    line: int
    column: int
    message: str
    hint: str = ""

    def render(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class RawDocument:
    """One parsed YAML document: plain data for the models, the ruamel node for positions."""

    path: str
    index: int
    data: Any
    node: Any
    line: int
    column: int


class _TooLarge(Exception):
    pass


def _plain(node: Any, budget: list[int]) -> Any:
    """ruamel's tree as plain Python data (aliases expanded, within a node budget)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, dict):
        return {_key(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    if isinstance(node, datetime.date | datetime.datetime):
        # left as a date: the models expect strings and report a clear type error
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _key(key: Any) -> Any:
    return str(key) if isinstance(key, str) else key


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return int(lc.line) + 1, int(lc.col) + 1
    return 1, 1


def parse_file(path: str, text: bytes) -> tuple[list[RawDocument], list[Problem]]:
    """Every document of one file, or the problems that stopped it from being read."""
    if len(text) > MAX_FILE_BYTES:
        return [], [
            Problem(
                path,
                1,
                1,
                f"the file is larger than {MAX_FILE_BYTES} bytes",
                "split the manifests into several files",
            )
        ]
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(path, 1, 1, f"not UTF-8 text: {exc.reason}", "save it as UTF-8")]
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    docs: list[RawDocument] = []
    try:
        for index, node in enumerate(yaml.load_all(decoded)):
            if node is None:
                continue
            line, column = _start(node)
            try:
                data = _plain(node, [_MAX_NODES])
            except (_TooLarge, RecursionError):
                return docs, [
                    Problem(
                        path,
                        line,
                        column,
                        "the document is too large once its aliases are expanded",
                        "write the values out instead of repeating anchors",
                    )
                ]
            docs.append(RawDocument(path, index, data, node, line, column))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return docs, [Problem(path, line, column, f"YAML syntax: {message}", _yaml_hint(message))]
    except (YAMLError, RecursionError, ValueError, TypeError, AttributeError) as exc:
        return docs, [
            Problem(path, 1, 1, f"YAML syntax: {exc}", "check the file with a YAML linter")
        ]
    return docs, []


def _yaml_hint(message: str) -> str:
    if "duplicate key" in message:
        return "remove one of the two keys"
    if "tab" in message:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in message:
        return "quote a value that contains ': ', or fix the indentation"
    return "check the indentation and quoting near this place"


def _walk(node: Any, loc: Sequence[str | int]) -> Iterator[tuple[int, int]]:
    """Positions along `loc`: each key (or list item) found, outermost first."""
    current = node
    for part in loc:
        if isinstance(current, CommentedMap) and isinstance(part, str) and part in current:
            line, col = current.lc.key(part)
            yield line + 1, col + 1
            current = current[part]
        elif (
            isinstance(current, CommentedSeq) and isinstance(part, int) and 0 <= part < len(current)
        ):
            line, col = current.lc.item(part)
            yield line + 1, col + 1
            current = current[part]
        else:
            return


def position_of(
    doc: RawDocument, loc: Sequence[str | int], *, value: bool = False
) -> tuple[int, int]:
    """The line and column of the deepest part of `loc` present in the document.

    With `value`, the position of the value rather than of its key, when the whole `loc` exists.
    """
    found = list(_walk(doc.node, loc))
    if not found:
        return doc.line, doc.column
    if value and len(found) == len(loc) and loc:
        parent_loc, last = loc[:-1], loc[-1]
        parent: Any = doc.node
        for part in parent_loc:
            parent = parent[part]
        if isinstance(parent, CommentedMap) and isinstance(last, str):
            line, col = parent.lc.value(last)
            return line + 1, col + 1
    return found[-1]
