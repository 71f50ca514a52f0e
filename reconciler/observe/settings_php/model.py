"""What :func:`~reconciler.observe.settings_php.parse_settings` returns, and its bounds.

:class:`SettingsInfo` and :class:`DatabaseSettings` hold no secret: the password is never read
out, and the hash salt only as *set* or not. A text the parser refuses gives a
:class:`SettingsInfo` whose :attr:`~SettingsInfo.error` says why (see :func:`_failed`); inside
the package, :class:`_ParseError` carries that reason out of the lexer and the walker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DYNAMIC: Final = "<dynamic>"
"""Stands for a value computed at run time, where a string is expected (includes, config sync)."""

MAX_INPUT: Final = 2 * 1024 * 1024
MAX_DEPTH: Final = 64
MAX_TOKENS: Final = 250_000


@dataclass(frozen=True)
class DatabaseSettings:
    """The literal parts of ``$databases['default']['default']``; the password is never read out.

    A field is ``None`` when the key is absent, not a literal (then its name is in
    :attr:`dynamic`), or of a type that makes no sense for it (e.g. an array as ``host``).
    """

    driver: str | None
    database: str | None
    """The database name; for sqlite the file path (absolute or relative to the docroot)."""
    host: str | None
    port: int | str | None
    """As written: an int (what the installer writes) or a string."""
    username: str | None
    prefix: str | None
    dynamic: tuple[str, ...]
    """Keys of the entry whose value is not a literal, in file order; ``"*"`` = the whole entry
    or an unknown set of its keys (e.g. ``$databases = load_db();``)."""
    conditional: bool
    """Some of it was set (or unset) inside an ``if``/``else``, loop, ``switch`` or ``catch``
    block, or after a conditional ``return``: the real value depends on run time."""


@dataclass(frozen=True)
class SettingsInfo:
    """What :func:`parse_settings` found. Holds no secret."""

    database: DatabaseSettings | None
    """``None`` when ``$databases['default']['default']`` is not set (or was unset/emptied)."""
    includes: tuple[str, ...]
    """Paths of the files included at run time, in file order: the literal path, or
    :data:`DYNAMIC` when it is computed (``__DIR__ . '/settings.local.php'``)."""
    hash_salt_set: bool
    """``$settings['hash_salt']`` holds a non-empty literal, or a computed value (which cannot be
    checked, e.g. ``file_get_contents(...)``). The salt itself is never returned."""
    config_sync_directory: str | None
    """The literal value, :data:`DYNAMIC` when computed, ``None`` when unset."""
    error: str | None
    """Why the text could not be parsed (then every other field is empty), else ``None``."""


def _failed(message: str) -> SettingsInfo:
    return SettingsInfo(
        database=None, includes=(), hash_salt_set=False, config_sync_directory=None, error=message
    )


class _ParseError(Exception):
    """Internal: ends the parse. The message names a kind and a line, never file content."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
