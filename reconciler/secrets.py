"""Secrets the controller generates (database passwords, hash salts) and a wrapper hiding them.

Pure: values come from the operating system's CSPRNG (`secrets`); nothing is written anywhere.

`Secret` keeps a value out of logs by construction: `str`, `repr`, `format` (f-strings) and `%s`
all show `***`; only `.reveal()` gives the value, so every place that uses a secret says so.
It is deliberately not a `str` subclass: concatenation, `join`, `json.dumps` and pickling fail
instead of silently carrying the value along.
"""

from __future__ import annotations

import hmac
import secrets
import string
from typing import Final, NoReturn

__all__ = [
    "HASH_SALT_BYTES",
    "MIN_PASSWORD_LENGTH",
    "PASSWORD_ALPHABET",
    "Secret",
    "generate_hash_salt",
    "generate_password",
]

PASSWORD_ALPHABET: Final = string.ascii_letters + string.digits
"""Letters and digits only: nothing to escape in a settings.php single-quoted string, an SQL
string literal, a client options file, a shell word or a URL; no leading `-` to be taken for an
option, no `_` or `%` to be taken for a wildcard. 62 symbols: about 5.95 bits per character."""

MIN_PASSWORD_LENGTH: Final = 32
HASH_SALT_BYTES: Final = 55
MASK: Final = "***"


def generate_password(length: int = 40) -> str:
    """A random password of `length` (at least 32) characters from `PASSWORD_ALPHABET`.

    40 characters give about 238 bits of entropy.
    """
    if length < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def generate_hash_salt() -> str:
    """A Drupal `$settings['hash_salt']`: 55 random bytes in URL-safe base64 without padding.

    The same shape as Drupal's installer (`Crypt::randomBytesBase64(55)`): 74 characters of
    `[A-Za-z0-9_-]`.
    """
    return secrets.token_urlsafe(HASH_SALT_BYTES)


class Secret:
    """A secret string that never prints itself; `.reveal()` gives the value."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value itself: for the one place that must write or send it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not to be pickled or copied into storage")
