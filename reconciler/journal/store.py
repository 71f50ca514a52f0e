"""`open_store`: the journal `--state` names, a SQLite file by default or a PostgreSQL database."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.journal.model import Redactor, Store
from reconciler.journal.pgconn import is_postgres_url
from reconciler.journal.postgres import PostgresStore
from reconciler.journal.sqlite import SQLiteStore

__all__ = ["default_state_path", "open_store", "sqlite_state_path"]


def default_state_path() -> Path:
    """`$XDG_STATE_HOME/reconciler/journal.sqlite`, `~/.local/state/...` without it."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "reconciler" / "journal.sqlite"


def sqlite_state_path(state: str | None) -> Path:
    """The SQLite file a non-PostgreSQL `--state` names (None: `default_state_path()`)."""
    if state is not None and not state.strip():
        raise ReconcilerError("--state is empty", hint="give a file path, or omit --state")
    return default_state_path() if state is None else Path(state).expanduser()


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return  # made by another process meanwhile
    except OSError as exc:
        raise ReconcilerError(
            f"cannot create the journal directory {directory}: {exc}",
            hint="choose another place with --state",
        ) from exc
    directory.chmod(0o700)  # whatever the umask said


def _ensure_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ReconcilerError(
            f"cannot create the journal {path}: {exc}", hint="choose another place with --state"
        ) from exc
    os.close(fd)
    path.chmod(0o600)


def open_store(
    state: str | None,
    *,
    redact: Redactor | None = None,
    busy_timeout_ms: int | None = None,
) -> Store:
    """The journal `state` names (the `--state` option): None for the default SQLite file, a
    path for that SQLite file (a new directory is made 0700 and a new file 0600), or a
    `postgresql://` / `postgres://` URL (see `reconciler.journal.postgres`; `busy_timeout_ms`
    is SQLite's only). The schema is brought up to date."""
    if state is not None and is_postgres_url(state):
        return PostgresStore(state, redact=redact)
    path = sqlite_state_path(state)
    _ensure_dir(path.parent)
    _ensure_file(path)
    if busy_timeout_ms is None:
        return SQLiteStore(path, redact=redact)
    return SQLiteStore(path, redact=redact, busy_timeout_ms=busy_timeout_ms)
