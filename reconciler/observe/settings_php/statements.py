"""The statement walker: runs through the statements that run at top level, in file order.

Statements inside ``if``/``elseif``/``else``, ``switch``, loops and ``catch`` apply too, in
order, and whatever they touch is marked *conditional*. A ``return``/``exit``/``die`` at top
level ends the file; inside a block, it makes everything after it conditional. Function, class,
interface, trait and enum bodies are declarations, not run: skipped.

Assignments to ``$databases``/``$settings`` go to the :class:`_Store`, with the value the
:class:`_Reader` finds; every ``include``/``require``/``include_once``/``require_once`` that
runs is recorded, its path or :data:`DYNAMIC`. Statements this walker does not model but that
write to ``$databases``/``$settings`` (``$databases[...]['port']++``, ``&$databases[...]``,
``foreach (... as $databases...)``, ``[$databases] = ...``, ``extract()``, ``$$name``) make
the part they touch dynamic. Blocks nested deeper than :data:`MAX_DEPTH` raise
:class:`_ParseError`.
"""

from __future__ import annotations

from typing import Final

from reconciler.observe.settings_php.expressions import _Reader
from reconciler.observe.settings_php.lexer import _CLOSERS, _NAME, _OP, _VAR, _Tok
from reconciler.observe.settings_php.model import DYNAMIC, MAX_DEPTH, _ParseError
from reconciler.observe.settings_php.store import _TRACKED, _Store
from reconciler.observe.settings_php.values import _DYN, _Arr, _Value

_ASSIGN_OPS: Final = frozenset(
    {"=", "+=", "-=", "*=", "/=", ".=", "%=", "**=", "??=", "&=", "|=", "^=", "<<=", ">>="}
)
_INCLUDES: Final = frozenset({"include", "include_once", "require", "require_once"})
_DECLS: Final = frozenset({"class", "interface", "trait"})
_MODIFIERS: Final = frozenset({"abstract", "final", "readonly"})
_SKIP_STMTS: Final = frozenset(
    {"use", "global", "static", "echo", "print", "const", "goto", "throw", "break", "continue"}
)
_ALT_END: Final = {
    "while": "endwhile",
    "for": "endfor",
    "foreach": "endforeach",
    "switch": "endswitch",
    "declare": "enddeclare",
}


class _Walker(_Reader):
    """Walks the statements that run at top level and keeps ``$databases``/``$settings``."""

    def __init__(self, toks: list[_Tok], match: list[int]) -> None:
        super().__init__(toks, match)
        self.store = _Store(_Arr())
        self.halted = False
        self.rest_conditional = False

    def run(self) -> None:
        self._stmts(0, self.n, False, 0, frozenset())

    # ---- statements

    def _stmts(self, i: int, end: int, cond: bool, depth: int, stop: frozenset[str]) -> int:
        """Run statements from *i* until *end* or a keyword in *stop*; returns where it stopped."""
        if depth > MAX_DEPTH:
            raise _ParseError(f"blocks nested deeper than {MAX_DEPTH}")
        while i < end and not self.halted:
            if stop and self._tok(i)[0] == _NAME and self._tok(i)[2] in stop:
                return i
            j = self._statement(i, end, cond or self.rest_conditional, depth)
            i = j if j > i else i + 1
        return end if self.halted else i

    def _statement(self, i: int, end: int, cond: bool, depth: int) -> int:
        kind, text, value = self.toks[i]
        if kind == _OP:
            if text == ";":
                return i + 1
            if text == "{":  # its depth is bounded by the lexer's bracket depth
                j = self.match[i]
                self._stmts(i + 1, j, cond, depth, frozenset())
                return j + 1
            if text == "#[":
                return self.match[i] + 1
            if text == "[" and self._is_op(self.match[i] + 1, "="):
                self._taint_vars(i, self.match[i], cond)  # [$databases, ...] = ...
            return self._expr_stmt(i, end, cond)
        if kind == _VAR:
            return self._assignment(i, end, cond)
        if kind != _NAME or text.startswith("\\"):
            return self._expr_stmt(i, end, cond)
        kw = value
        if kw in ("if", "while", "for", "foreach", "switch", "declare"):
            return self._control(i, end, cond, depth, str(kw))
        if kw == "do":
            if depth >= MAX_DEPTH:
                raise _ParseError(f"blocks nested deeper than {MAX_DEPTH}")
            j = self._statement(i + 1, end, True, depth + 1) if i + 1 < end else end
            if self._is_kw(j, "while"):
                self._scan(j + 1, self._group_end(j + 1, end), cond)
                return self._stmt_end(j, end) + 1
            return j
        if kw == "try":
            j = self._group_end(i + 1, end)
            self._stmts(i + 2, j - 1, cond, depth + 1, frozenset())
            while self._is_kw(j, "catch", "finally"):
                is_catch = self._is_kw(j, "catch")
                k = self._group_end(j + 1, end) if is_catch else j + 1
                body_end = self._group_end(k, end)
                if self._is_op(k, "{"):
                    self._stmts(k + 1, body_end - 1, cond or is_catch, depth + 1, frozenset())
                j = body_end
            return j
        if kw == "function" and (
            self._tok(i + 1)[0] == _NAME
            or (self._is_op(i + 1, "&") and self._tok(i + 2)[0] == _NAME)
        ):
            return self._skip_decl(i, end)
        if kw in _DECLS or (
            kw in _MODIFIERS and self._tok(i + 1)[0] == _NAME and self._tok(i + 1)[2] != "function"
        ):
            return self._skip_decl(i, end)
        if kw == "enum" and self._tok(i + 1)[0] == _NAME:
            return self._skip_decl(i, end)
        if kw == "namespace":
            j = i + 1
            if self._tok(j)[0] == _NAME:
                j += 1
            if self._is_op(j, "{"):
                k = self.match[j]
                self._stmts(j + 1, k, cond, depth + 1, frozenset())
                return k + 1
            return self._stmt_end(i, end) + 1
        if kw in ("return", "exit", "die"):
            e = self._stmt_end(i, end)
            self._scan(i + 1, e, cond)
            if cond:
                self.rest_conditional = True
            else:
                self.halted = True
            return e + 1
        if kw == "__halt_compiler":
            self.halted = True
            return end
        if kw == "list" and self._is_op(i + 1, "(") and self._is_op(self.match[i + 1] + 1, "="):
            self._taint_vars(i + 1, self.match[i + 1], cond)  # list($databases, ...) = ...
            return self._expr_stmt(i, end, cond)
        if kw == "unset" and self._is_op(i + 1, "("):
            return self._unset(i, end, cond)
        if kw in ("case", "default") and not self._is_op(i + 1, "("):
            return self._case_label(i + 1, end)
        if kw in _SKIP_STMTS:
            e = self._stmt_end(i, end)
            self._scan(i + 1, e, cond)
            return e + 1
        if self._is_op(i + 1, ":") and kw not in _INCLUDES:  # a goto label
            return i + 2
        return self._expr_stmt(i, end, cond)

    def _control(self, i: int, end: int, cond: bool, depth: int, kw: str) -> int:
        """``if``/``while``/``for``/``foreach``/``switch``/``declare``, either syntax."""
        if depth >= MAX_DEPTH:
            raise _ParseError(f"blocks nested deeper than {MAX_DEPTH}")
        body_cond = cond or kw != "declare"
        j = self._header(i, end, cond, kw)
        if kw != "if":
            if self._is_op(j, ":"):
                k = self._stmts(j + 1, end, body_cond, depth + 1, frozenset({_ALT_END[kw]}))
                return self._stmt_end(k, end) + 1 if k < end else end
            if self._is_op(j, ";"):
                return j + 1
            return self._statement(j, end, body_cond, depth + 1) if j < end else end
        if self._is_op(j, ":"):  # if (...): ... elseif (...): ... else: ... endif;
            stop = frozenset({"elseif", "else", "endif"})
            k = self._stmts(j + 1, end, True, depth + 1, stop)
            while k < end and not self._is_kw(k, "endif"):
                if self._is_kw(k, "elseif"):
                    k = self._header(k, end, cond, "elseif")
                elif self._is_kw(k, "else"):
                    k += 1
                    if self._is_kw(k, "if"):  # `else if (...):` is not valid PHP; be lenient
                        k = self._header(k, end, cond, "if")
                else:  # pragma: no cover - _stmts stops only at a stop word or at end
                    break
                if self._is_op(k, ":"):
                    k += 1
                k = self._stmts(k, end, True, depth + 1, stop)
            return self._stmt_end(k, end) + 1 if k < end else end
        k = self._statement(j, end, True, depth + 1) if j < end else end
        while k < end and self._is_kw(k, "elseif", "else"):
            if self._is_kw(k, "elseif"):
                k = self._header(k, end, cond, "elseif")
            else:
                k += 1
                if self._is_kw(k, "if"):  # `else if` chains stay flat
                    k = self._header(k, end, cond, "if")
            k = self._statement(k, end, True, depth + 1) if k < end else end
        return k

    def _header(self, i: int, end: int, cond: bool, kw: str) -> int:
        """Scan the parenthesised header after the keyword at *i*; returns the index after it."""
        j = i + 1
        if not self._is_op(j, "("):
            return j
        k = self.match[j]
        self._scan(j + 1, k, cond)
        if kw == "foreach":
            for a in range(j + 1, k):
                if self._is_kw(a, "as"):
                    self._taint_vars(a + 1, k, True)  # only if the loop runs
                    break
        return k + 1

    def _case_label(self, i: int, end: int) -> int:
        ternary = 0
        while i < end:
            kind, text, _ = self.toks[i]
            if kind == _OP:
                if text == ";" or (text == ":" and not ternary):
                    return i + 1
                if text == "?":
                    ternary += 1
                elif text == ":":
                    ternary -= 1
                elif self.match[i] >= 0:
                    i = self.match[i]
            i += 1
        return end

    def _skip_decl(self, i: int, end: int) -> int:
        """Skip a function/class/... declaration: up to and including its ``{...}`` body."""
        while i < end:
            kind, text, _ = self.toks[i]
            if kind == _OP:
                if text == "{":
                    return self.match[i] + 1
                if text == ";":
                    return i + 1
                if self.match[i] >= 0:
                    i = self.match[i]
            i += 1
        return end

    def _expr_stmt(self, i: int, end: int, cond: bool) -> int:
        e = self._stmt_end(i, end)
        self._scan(i, e, cond)
        return e + 1

    def _assignment(self, i: int, end: int, cond: bool) -> int:
        name = self.toks[i][1]
        if name not in _TRACKED:
            return self._expr_stmt(i, end, cond)
        path, j = self._path(i + 1, end)
        op = self._tok(j)
        if op[0] != _OP or op[1] not in _ASSIGN_OPS:
            return self._expr_stmt(i, end, cond)
        e = self._stmt_end(j + 1, end)
        self._scan(i + 1, e, cond)
        value: _Value = _DYN if self._is_op(j + 1, "&") else self._value(j + 1, e)
        self.store.apply([name, *path], op[1], value, cond)
        return e + 1

    def _unset(self, i: int, end: int, cond: bool) -> int:
        close = self.match[i + 1]
        a = i + 2
        while a < close:
            b = a
            while b < close and not self._is_op(b, ","):
                b = self.match[b] + 1 if self.match[b] >= 0 else b + 1
            t = self.toks[a]
            if t[0] == _VAR and t[1] in _TRACKED:
                path, k = self._path(a + 1, b)
                if k == b:
                    self.store.apply([t[1], *path], "unset", None, cond)
            a = b + 1
        return self._stmt_end(close, end) + 1

    # ---- side effects found inside statements

    def _scan(self, i: int, e: int, cond: bool) -> None:
        """Record includes in tokens ``[i, e)``; make writes this walker does not model dynamic."""
        toks = self.toks
        a = i - 1
        operand_end = -1  # the end of the operand of the last include
        while a + 1 < e:
            a += 1
            kind, text, value = toks[a]
            if kind == _NAME:
                member = a > i and toks[a - 1][0] == _OP and toks[a - 1][1] in ("::", "->", "?->")
                if value in ("function", "class") and not text.startswith("\\") and not member:
                    a = self._skip_decl(a, e) - 1  # a closure or anonymous class: not run here
                elif value in _INCLUDES and not text.startswith("\\"):
                    if a < operand_end:  # include (include 'x') ...: the outer one is dynamic
                        self.store.includes.append(DYNAMIC)
                        continue
                    b = a + 1
                    while b < e:
                        kk, tt, _ = toks[b]
                        if kk == _OP and (tt in (";", ",", "=>") or tt in _CLOSERS):
                            break
                        b = self.match[b] + 1 if self.match[b] >= 0 else b + 1
                    v = self._value(a + 1, b) if b > a + 1 else _DYN
                    self.store.includes.append(v if isinstance(v, str) else DYNAMIC)
                    operand_end = b
                elif value in ("extract", "parse_str") and self._is_op(a + 1, "("):
                    self.store.taint_all(cond)
            elif kind == _VAR:
                target = text
                start = a + 1
                if text == "GLOBALS" and self._is_op(a + 1, "["):
                    g = self._value(a + 2, self.match[a + 1])
                    if isinstance(g, str) and g in _TRACKED:
                        target, start = g, self.match[a + 1] + 1
                if target not in _TRACKED:
                    continue
                path, j = self._path(start, e)
                nxt = self._tok(j)
                prev = toks[a - 1] if a > 0 else ("", "", None)
                writes = nxt[0] == _OP and (nxt[1] in _ASSIGN_OPS or nxt[1] in ("++", "--"))
                if writes or (prev[0] == _OP and prev[1] in ("&", "++", "--")):
                    self.store.taint([target, *path], cond)
            elif (
                kind == _OP
                and text == "$"
                and (self._tok(a + 1)[0] == _VAR or self._is_op(a + 1, "{"))
            ):
                self.store.taint_all(cond)  # $$name / ${expr}: any variable

    def _taint_vars(self, i: int, e: int, cond: bool) -> None:
        for a in range(i, e):
            kind, text, _ = self.toks[a]
            if kind == _VAR and text in _TRACKED:
                path, _j = self._path(a + 1, e)
                self.store.taint([text, *path], cond)
