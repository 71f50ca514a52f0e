"""The value model: what the walker knows of a PHP value, and PHP's rules for using one.

Values: literal arrays (``[...]`` and ``array(...)``, nested, trailing commas, string or int
keys normalised as PHP does, auto-indexed entries), strings (single-quoted, double-quoted and
heredoc without interpolation, nowdoc), numbers, ``true``/``false``/``null`` in any case,
parentheses, unary ``-``/``+`` on numbers and ``.`` concatenation of those.

Anything else is *dynamic* (:data:`_DYN`) and never guessed: function calls
(``getenv('DB_HOST')``), constants (``__DIR__``, ``PDO::ATTR_TIMEOUT``), variables, interpolated
strings, backticks, arithmetic, ternaries, ``include`` used as a value, references. An array
that may hold further keys with unknown values is *partial* (:class:`_Arr`).
"""

from __future__ import annotations

import math
import re
from typing import Final, TypeAlias

_INT_MAX: Final = 2**63 - 1
"""PHP_INT_MAX on the 64-bit builds Drupal runs on."""


class _Dynamic:
    """A value known only at run time."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<dynamic>"


class _Missing:
    """No such variable or key."""

    __slots__ = ()


_DYN: Final = _Dynamic()
_MISSING: Final = _Missing()


class _Arr:
    """A PHP array. *partial*: it may hold further keys with unknown values."""

    __slots__ = ("items", "nxt", "partial")

    def __init__(self, partial: bool = False) -> None:
        self.items: dict[int | str, _Value] = {}
        self.partial = partial
        self.nxt = 0  # PHP's next free index: it does not go down on unset

    def next_index(self) -> int:
        return self.nxt

    def set(self, key: int | str, value: _Value) -> None:
        self.items[key] = value
        if isinstance(key, int) and key >= self.nxt:
            self.nxt = key + 1

    def get(self, key: int | str) -> _Value | _Missing:
        v = self.items.get(key, _MISSING)
        return _DYN if isinstance(v, _Missing) and self.partial else v

    def forget(self) -> None:
        """An unknown key of this array was written or removed: nothing in it is known."""
        self.partial = True
        self.items.clear()


_Value: TypeAlias = str | int | float | bool | _Arr | _Dynamic | None


class _Append:
    __slots__ = ()


class _DynKey:
    __slots__ = ()


_APPEND: Final = _Append()
_DYNKEY: Final = _DynKey()
_PathKey: TypeAlias = int | str | _Append | _DynKey

_INT_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")


def _key(v: _Value) -> int | str | None:
    """PHP's array key for *v*; ``None`` when unknown or illegal."""
    if isinstance(v, str):
        if _INT_KEY.match(v) and -_INT_MAX - 1 <= int(v) <= _INT_MAX:
            return int(v)
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if v is None:
        return ""
    if isinstance(v, float) and math.isfinite(v) and abs(v) < 2**63:
        return int(v)
    return None


def _php_str(v: _Value) -> str | None:
    """``(string) v`` for literals where that is certain, else ``None``."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "1" if v else ""
    if isinstance(v, int):
        return str(v)
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 and math.copysign(1, v) > 0:
        return str(int(v))
    return None


def _is_literal(v: _Value | _Missing) -> bool:
    if not isinstance(v, _Arr | _Dynamic):
        return True
    stack: list[_Value | _Missing] = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, _Dynamic):
            return False
        if isinstance(x, _Arr):
            if x.partial:
                return False
            stack.extend(x.items.values())
    return True


def _php_empty(v: _Value) -> bool:
    if isinstance(v, _Arr):
        return not v.items and not v.partial
    return v in ("", "0", 0, 0.0, False, None) and not isinstance(v, _Dynamic)


def _combine(cur: _Value | _Missing, op: str, value: _Value) -> _Value:
    """The result of ``cur <op> value`` for an assignment operator."""
    if op == "=":
        return value
    if op == "??=":
        if isinstance(cur, _Missing) or cur is None:
            return value
        return _DYN if isinstance(cur, _Dynamic) else cur
    if op == "+=":
        if isinstance(cur, _Missing) or cur is None:
            return value if isinstance(value, _Arr | _Dynamic) else _DYN
        if isinstance(cur, _Arr):
            if isinstance(value, _Arr):
                for k, v in value.items.items():
                    if k not in cur.items:
                        cur.set(k, _DYN if cur.partial else v)
                cur.partial = cur.partial or value.partial
            else:
                cur.partial = True
            return cur
        return _DYN
    if op == ".=":
        left = "" if isinstance(cur, _Missing) else _php_str(cur)
        right = _php_str(value)
        return _DYN if left is None or right is None else left + right
    return _DYN
