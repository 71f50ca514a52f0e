"""Reading tokens: where a statement or a bracket group ends, and what an expression is worth.

:class:`_Reader` holds the tokens and, for each opening bracket, the index of its closer (as
:func:`_lex` returns them), and evaluates the expressions the walker meets: the subscripts of
an assignment's target and the value assigned. Only literals have a value (see
:mod:`~reconciler.observe.settings_php.values`); any other expression is dynamic, and so is an
expression of which a part is left over after the literal (``'a' . f()``, ``1 + 2``).
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.observe.settings_php.lexer import _NAME, _NUM, _OP, _STR, _Tok
from reconciler.observe.settings_php.values import (
    _APPEND,
    _DYN,
    _DYNKEY,
    _Arr,
    _key,
    _PathKey,
    _php_str,
    _Value,
)


class _Reader:
    """The tokens of one file, read by index; brackets are matched by the lexer."""

    def __init__(self, toks: list[_Tok], match: list[int]) -> None:
        self.toks = toks
        self.match = match
        self.n = len(toks)

    # ---- tokens

    def _tok(self, i: int) -> _Tok:
        return self.toks[i] if i < self.n else ("", "", None)

    def _is_op(self, i: int, op: str) -> bool:
        t = self._tok(i)
        return t[0] == _OP and t[1] == op

    def _is_kw(self, i: int, *words: str) -> bool:
        t = self._tok(i)
        return t[0] == _NAME and t[2] in words and not t[1].startswith("\\")

    def _group_end(self, i: int, end: int) -> int:
        """Index after the bracket group opening at *i* (or *i* + 1 when none opens there)."""
        j = self.match[i] if i < end and self.toks[i][0] == _OP else -1
        return min(j + 1, end) if j >= 0 else min(i + 1, end)

    def _stmt_end(self, i: int, end: int) -> int:
        """Index of the ``;`` ending the statement at *i* (or *end*), skipping bracket groups."""
        toks, match = self.toks, self.match
        while i < end:
            kind, text, _ = toks[i]
            if kind == _OP:
                if text == ";":
                    return i
                j = match[i]
                if j >= 0:
                    i = j
            i += 1
        return end

    def _path(self, i: int, end: int) -> tuple[list[_PathKey], int]:
        """The subscripts ``[...]...`` starting at *i*; returns them and the index after them."""
        path: list[_PathKey] = []
        while i < end and self._is_op(i, "["):
            close = self.match[i]
            if close == i + 1:
                path.append(_APPEND)
            else:
                v = self._value(i + 1, close)
                k = _key(v)
                path.append(_DYNKEY if k is None else k)
            i = close + 1
        return path, i

    # ---- values

    def _value(self, i: int, e: int) -> _Value:
        """The value of the expression in tokens ``[i, e)``; dynamic unless wholly literal."""
        v, j = self._concat(i, e)
        return v if j == e else _DYN

    def _concat(self, i: int, e: int) -> tuple[_Value, int]:
        v, i = self._term(i, e)
        if not self._is_op(i, ".") or i >= e:
            return v, i
        parts = [_php_str(v)]
        while i < e and self._is_op(i, "."):
            v, i = self._term(i + 1, e)
            parts.append(_php_str(v))
        if any(p is None for p in parts):
            return _DYN, i
        return "".join(p for p in parts if p is not None), i

    def _term(self, i: int, e: int) -> tuple[_Value, int]:
        if i >= e:
            return _DYN, i
        kind, text, value = self.toks[i]
        if kind in (_STR, _NUM):
            return value, i + 1
        if kind == _OP:
            if text == "[":
                return self._array(i + 1, self.match[i]), self.match[i] + 1
            if text == "(":
                return self._value(i + 1, self.match[i]), self.match[i] + 1
            if text in ("-", "+"):
                sign = 1
                j = i
                while j < e and self._tok(j)[0] == _OP and self._tok(j)[1] in ("-", "+"):
                    sign = -sign if self._tok(j)[1] == "-" else sign
                    j += 1
                num = self._tok(j)
                if j < e and num[0] == _NUM and isinstance(num[2], int | float):
                    n = num[2]
                    return (-n if sign < 0 else n), j + 1
            return _DYN, i
        if kind == _NAME:
            if value in ("true", "false", "null") and not self._is_op(i + 1, "("):
                return {"true": True, "false": False, "null": None}[str(value)], i + 1
            if value == "array" and not text.startswith("\\") and self._is_op(i + 1, "("):
                close = self.match[i + 1]
                return self._array(i + 2, close), close + 1
        return _DYN, i + 1

    def _array(self, i: int, e: int) -> _Arr:
        arr = _Arr()
        for s, arrow, t in self._elements(i, e):
            if s == t:
                continue  # the trailing comma
            if arrow < 0:
                if self._is_op(s, "..."):
                    arr.partial = True
                    continue
                arr.set(arr.next_index(), _DYN if self._is_op(s, "&") else self._value(s, t))
                continue
            k = _key(self._value(s, arrow))
            if k is None:
                arr.partial = True
                continue
            val = _DYN if self._is_op(arrow + 1, "&") else self._value(arrow + 1, t)
            arr.set(k, val)
        return arr

    def _elements(self, i: int, e: int) -> Iterator[tuple[int, int, int]]:
        """``(start, index of the first "=>" or -1, end)`` of each element in ``[i, e)``."""
        toks, match = self.toks, self.match
        s, arrow = i, -1
        while i < e:
            kind, text, _ = toks[i]
            if kind == _OP:
                if text == ",":
                    yield s, arrow, i
                    s, arrow = i + 1, -1
                elif text == "=>" and arrow < 0:
                    arrow = i
                elif match[i] >= 0:
                    i = match[i]
            i += 1
        if s < e:
            yield s, arrow, e
