"""Structured logs: structlog set up once per process, context bound per task, secrets removed.

`configure_logging` makes every log line — the reconciler's own (structlog) and those of the
libraries it uses through the standard `logging` module (asyncssh, aiohttp, GitPython) — one
line on stderr: a JSON object when stderr is not a terminal or the format is `json`, a readable
line otherwise. Every line has `timestamp` (ISO 8601, UTC), `level` and `event`, plus whatever
context is bound: `run`, `server`, `site`, `action`, `step` (see `log_context`). Context lives in
contextvars, so each asyncio task carries its own.

Secrets never reach the output: a processor, last before rendering, walks every field (nested
dicts and lists included, the formatted traceback too) and

* puts `***` for a `reconciler.secrets.Secret` and for the value of any key named like a secret
  (`password`, `secret`, `token`, `hash_salt`, `api_key`, ...);
* replaces `[REDACTED]` for every known secret value found inside text — raw, JSON-escaped,
  shell-quoted, PHP-quoted or URL-encoded. Known values are those given to `register_secret`
  (the apply code registers each password and salt it generates or reads) and those the
  `secrets_provider` given to `configure_logging` returns.

Tests check the chain with `structlog.testing.capture_logs(processors=log_processors())`.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, Literal, TextIO
from urllib.parse import quote

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from reconciler.secrets import Secret

__all__ = [
    "CONTEXT_KEYS",
    "MASK",
    "REDACTED",
    "LogFormat",
    "SecretRegistry",
    "SecretsProvider",
    "bind_context",
    "configure_logging",
    "forget_secrets",
    "get_logger",
    "known_secrets",
    "log_context",
    "log_processors",
    "redact_value",
    "register_secret",
]

LogFormat = Literal["console", "json"]
SecretsProvider = Callable[[], Iterable[str]]
"""Returns more secret values to remove; called for every log line, so it must be cheap."""

MASK: Final = "***"
REDACTED: Final = "[REDACTED]"
CONTEXT_KEYS: Final = ("run", "server", "site", "action", "step")
QUIET_LIBRARIES: Final = ("asyncssh",)
"""Libraries whose INFO lines (one per SSH channel) would drown ours: WARNING and up only."""

_SECRET_KEY = re.compile(
    r"passw(?:or)?d|passphrase|secret|token|salt|api[_-]?key|private[_-]?key|credential"
    r"|authorization",
    re.IGNORECASE,
)
_META_KEYS: Final = frozenset({"_record", "_from_structlog"})
_MAX_DEPTH: Final = 8


def _variants(value: str) -> set[str]:
    """How a secret may look inside text: raw, JSON-escaped, shell-, PHP- and URL-quoted."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        shlex.quote(value),
        value.replace("\\", "\\\\").replace("'", "\\'"),
        quote(value, safe=""),
    } - {""}


class _Patterns:
    """A set of secret forms and the fastest way to take them out of text. Few forms:
    `str.replace` for each (C speed on long text). Many (a controller that installed
    thousands of sites): one pass over the text per distinct form length, each window looked up
    in a set, so the cost grows with the text and not with the number of secrets.
    """

    __slots__ = ("_ordered", "_table")
    _SCAN_LIMIT: Final = 64

    def __init__(self, forms: Iterable[str]) -> None:
        ordered = tuple(sorted(set(forms) - {""}, key=len, reverse=True))
        self._ordered = ordered if len(ordered) <= self._SCAN_LIMIT else None
        table: dict[int, set[str]] = {}
        for form in ordered:
            table.setdefault(len(form), set()).add(form)
        self._table = tuple((n, frozenset(table[n])) for n in sorted(table, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._table)

    def redact(self, text: str) -> str:
        """`text` with every form replaced by `REDACTED`, longest forms first."""
        if self._ordered is not None:
            for form in self._ordered:
                if form in text:
                    text = text.replace(form, REDACTED)
            return text
        for length, forms in self._table:
            last = len(text) - length
            if last < 0 or not any(text[i : i + length] in forms for i in range(last + 1)):
                continue
            out: list[str] = []
            i = 0
            while i <= last:
                if text[i : i + length] in forms:
                    out.append(REDACTED)
                    i += length
                else:
                    out.append(text[i])
                    i += 1
            out.append(text[i:])
            text = "".join(out)
        return text


class SecretRegistry:
    """Secret values known to this process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._patterns: _Patterns | None = _Patterns(())

    def add(self, value: str | Secret) -> None:
        """Remove `value` from every log line from now on (an empty value is ignored)."""
        raw = value.reveal() if isinstance(value, Secret) else value
        if not raw:
            return
        with self._lock:
            if raw in self._values:
                return
            self._values.add(raw)
            self._forms |= _variants(raw)
            self._patterns = None

    def clear(self) -> None:
        """Forget every value (for tests)."""
        with self._lock:
            self._values, self._forms, self._patterns = set(), set(), _Patterns(())

    def values(self) -> frozenset[str]:
        """The registered values themselves."""
        with self._lock:
            return frozenset(self._values)

    def patterns(self) -> _Patterns:
        """Every form of every value, ready to redact with (built again after an `add`)."""
        found = self._patterns
        if found is None:
            with self._lock:
                found = self._patterns
                if found is None:
                    found = self._patterns = _Patterns(self._forms)
        return found


_REGISTRY: Final = SecretRegistry()


def register_secret(value: str | Secret) -> None:
    """Keep `value` out of every log line of this process from now on."""
    _REGISTRY.add(value)


def known_secrets() -> frozenset[str]:
    """The values given to `register_secret` so far."""
    return _REGISTRY.values()


def forget_secrets() -> None:
    """Forget the values given to `register_secret` (for tests)."""
    _REGISTRY.clear()


def _text(text: str, patterns: tuple[_Patterns, ...]) -> str:
    for found in patterns:
        text = found.redact(text)
    return text


def _mapping(
    value: Mapping[Any, object], patterns: tuple[_Patterns, ...], depth: int
) -> dict[str, object]:
    return {
        _text(str(k), patterns): (
            MASK
            if v is not None and _SECRET_KEY.search(str(k))
            else _redact(v, patterns, depth + 1)
        )
        for k, v in value.items()
    }


def _redact(value: object, patterns: tuple[_Patterns, ...], depth: int) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, str):
        return _text(value, patterns)
    if depth >= _MAX_DEPTH:
        return _text(str(value), patterns)
    if isinstance(value, Mapping):
        return _mapping(value, patterns, depth)
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v, patterns, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return _text(f"{type(value).__name__}: {value}", patterns)
    return _text(str(value), patterns)


def redact_value(value: object, extra_secrets: Iterable[str] = ()) -> object:
    """`value` without secrets, as a log line would show it: `Secret`s and the values of keys
    named like secrets become `***`; registered secrets and `extra_secrets` found inside text
    become `[REDACTED]`. Other objects than JSON's types (and tuples and sets) become text."""
    extra = _Patterns(v for s in extra_secrets if s for v in _variants(s))
    return _redact(value, (_REGISTRY.patterns(), extra), 0)


class _Redactor:
    """The processor: every field of the event without secrets (see the module's notes)."""

    def __init__(self, registry: SecretRegistry, provider: SecretsProvider | None) -> None:
        self._registry = registry
        self._provider = provider

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        patterns = [self._registry.patterns()]
        if self._provider is not None:
            patterns.append(_Patterns(v for s in self._provider() if s for v in _variants(s)))
        fields = {k: v for k, v in event.items() if k not in _META_KEYS}
        redacted = _mapping(fields, tuple(p for p in patterns if p), 0)
        redacted.update((k, v) for k, v in event.items() if k in _META_KEYS)
        return redacted


def _add_logger_name(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """`logger`: the standard library logger's name (works for foreign lines too)."""
    record = event.get("_record")
    name = record.name if isinstance(record, logging.LogRecord) else getattr(logger, "name", None)
    if isinstance(name, str) and name and name != "root":
        event.setdefault("logger", name)
    return event


_FIRST: Final = ("timestamp", "level", "logger", "event", *CONTEXT_KEYS)


def _leading_keys(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Timestamp, level, logger, event and the context first: lines read alike at a glance."""
    ordered = {key: event[key] for key in _FIRST if key in event}
    ordered.update(event)
    return ordered


def log_processors(secrets_provider: SecretsProvider | None = None) -> list[Processor]:
    """The chain every line goes through before rendering: context, level, logger name, UTC
    timestamp, the formatted exception, then the secret redaction (last, so it sees all)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _Redactor(_REGISTRY, secrets_provider),
    ]


_HANDLER_NAME: Final = "reconciler"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a line is emitted: pytest and click's test runner
    swap it (and close their copy) after the logging was set up."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # no stream of its own to keep

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current `sys.stderr`."""


def configure_logging(
    fmt: LogFormat | str | None = None,
    *,
    secrets_provider: SecretsProvider | None = None,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
) -> LogFormat:
    """Send every log line of the process to `stream` (default stderr) as `fmt` says.

    `fmt=None` chooses: console lines on a terminal, JSON lines otherwise. Calling it again
    replaces the previous setup (the handler it installed, not others). Returns the format used.
    """
    out = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    if fmt not in ("console", "json"):
        raise ValueError(f"unknown log format {fmt!r} (console or json)")
    chosen: LogFormat = "json" if fmt == "json" else "console"
    shared = log_processors(secrets_provider)
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    handler = logging.StreamHandler(out) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _leading_keys,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return chosen


def get_logger(name: str = "reconciler") -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` (use the module's `__name__`)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


ContextValue = str | int | None


@contextmanager
def log_context(
    *,
    run: ContextValue = None,
    server: ContextValue = None,
    site: ContextValue = None,
    action: ContextValue = None,
    step: ContextValue = None,
) -> Iterator[None]:
    """Bind the given keys (those not None) to every line logged inside the block, in this
    task and the tasks it starts; the previous values come back afterwards."""
    given = zip(CONTEXT_KEYS, (run, server, site, action, step), strict=True)
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in given if v is not None}):
        yield


def bind_context(**values: ContextValue) -> None:
    """Bind context keys for the rest of the current asyncio task (or thread): only
    `CONTEXT_KEYS`; None unbinds a key."""
    unknown = set(values) - set(CONTEXT_KEYS)
    if unknown:
        raise ValueError(f"not a log context key: {', '.join(sorted(unknown))}")
    structlog.contextvars.unbind_contextvars(*(k for k, v in values.items() if v is None))
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})
