r"""The fast path: the result for the common shapes of ``settings.php`` with one regex.

Most settings.php files are the installer's or a template's: long comments and a handful of
`$name[...] = <literal>;` statements. `_fast_parse` recognises such a file statement by
statement with one compiled regex (C speed: Python code never sees the comments) and decodes
only the values that can change the result, into the walker's store (`_f_assign` does what
`_Store.apply` does for them), read by `_Store.result`. Any other construct,
anywhere, makes it decline (return None) and the full parser run: the fast path may decline
any text, but what it accepts the lexer tokenises without error and the same way (its string
and comment patterns are the lexer's, minus the cases that escape, interpolate or do not
terminate), and the walker reads as the plain assignments applied here.

Accepted: `<?php` and a blank at the very start of the text, then only statements
    $name[<scalar>]...[<scalar>] = <value>;      (0 to 16 subscripts; `[]` appends)
with an ASCII variable name other than GLOBALS and `=` only. <value> is made of inert tokens
(scalars, `$app_root`, `$site_path`, `__DIR__`, `array`, `,`, `.`, `=>`), brackets balanced
and nested at most three deep: nothing the walker acts upon. Scalars: single-quoted strings,
double-quoted strings without `\` or `$`, decimal ints of at most 18 digits with an optional
`-`, true/false/null in any case. The value of a statement that can change the result
(`$databases...`, `$settings`, `$settings['hash_salt'|'config_sync_directory']...`) must
moreover be a scalar, a literal array (`[...]`/`array (...)`, nested at most three deep,
keys optional, trailing comma) or a `.` concatenation of quoted strings, `$app_root`,
`$site_path` and `__DIR__` (dynamic when it holds one of the last three). The text is at most
MAX_TOKENS characters long, so it has fewer tokens than that.
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.observe.settings_php.lexer import _ID, _SQ_ESC, _Scalar
from reconciler.observe.settings_php.model import MAX_TOKENS, SettingsInfo
from reconciler.observe.settings_php.store import _Store
from reconciler.observe.settings_php.values import (
    _APPEND,
    _DYN,
    _Append,
    _Arr,
    _Dynamic,
    _key,
    _Missing,
    _Value,
)

_F_NOLABEL = rf"(?![{_ID}\\])"  # no label character (or `\`) follows
_F_SQ = r"'[^'\\]*+(?:\\[\s\S][^'\\]*+)*+'"
_F_DQ = r'"[^"\\$]*+"'
_F_INT = rf"-?+(?:0|[1-9][0-9]{{0,17}}+)(?![{_ID}.\\])"  # no octal, float, 19+ digits, `_`
_F_WORD = rf"(?i:true|false|null){_F_NOLABEL}"
_F_SCALAR = rf"(?:{_F_SQ}|{_F_DQ}|{_F_INT}|{_F_WORD})"
_F_VAR = rf"\$(?:app_root|site_path){_F_NOLABEL}|__DIR__{_F_NOLABEL}"
_F_TERM = rf"(?:{_F_SQ}|{_F_DQ}|{_F_VAR})"
_F_DEPTH: Final = 3  # of literal arrays, and of brackets in other values
_F_RELEVANT: Final = {"databases": ("default",), "settings": ("hash_salt", "config_sync_directory")}


class _Grammar:
    """The fast path's patterns, for one way of matching line comments; compiled on first use.

    Alternatives start with distinct characters and every quantifier is possessive: no
    backtracking, the time is linear in the length of the text.
    """

    def __init__(self, line_comment: str) -> None:
        gap = (
            rf"[ \t\n\r]++|//{line_comment}|\#(?!\[){line_comment}|/\*[^*]*+(?:\*(?!/)[^*]*+)*+\*/"
        )
        c = rf"(?:{gap})*+"
        word = rf"(?i:true|false|null|array){_F_NOLABEL}"
        inert = rf"{_F_SQ}|=>|[,.]|{gap}|{_F_DQ}|{_F_VAR}|{_F_INT}|{word}"
        soup = f"(?:{inert})*+"
        for _ in range(_F_DEPTH):
            soup = rf"(?:{inert}|\[{soup}\]|\({soup}\))*+"
        array = "(?!)"
        for _ in range(_F_DEPTH):
            elem = rf"(?:{_F_SCALAR}{c}=>{c})?+(?:{_F_SCALAR}|{array})"
            items = rf"{c}(?:{elem}{c}(?:,{c}|(?=[\])])))*+"
            array = rf"(?:\[{items}\]|(?i:array){_F_NOLABEL}{c}\({items}\))"
        sub = rf"\[{c}(?:{_F_SCALAR}{c})?+\]{c}"
        self.stmt = re.compile(
            rf"""{c}(?:
              \$(?P<var>[A-Za-z_][A-Za-z0-9_]*+){_F_NOLABEL}{c}
              (?P<path>\[{c}(?:(?P<key>{_F_SCALAR}){c})?+\]{c}(?:{sub}){{0,15}}+)?+
              ={c}
              (?:(?P<arr>{array}){c};
                |(?P<term>{_F_TERM}){c};
                |(?P<cat>{_F_TERM}(?:{c}\.{c}{_F_TERM})++){c};
                |(?P<sc>{_F_INT}|{_F_WORD}){c};
                |{soup};)
            | (?P<end>\Z))""",
            re.VERBOSE,
        )
        self.key = re.compile(rf"\[{c}({_F_SCALAR})?+{c}\]{c}")  # matches are contiguous
        self.terms = re.compile(rf"({_F_TERM}){c}(?:\.{c})?+")
        self.open = re.compile(rf"(?:\[|(?i:array){c}\(){c}")
        nested = rf"(?:(?i:array){c})?+[\[(]{soup}[\])]"  # the strict pattern matched it
        self.elem = re.compile(
            rf"(?:({_F_SCALAR}){c}=>{c})?+(?:({_F_SCALAR})|({nested})){c}(?:,{c})?+"
        )


_F_GRAMMARS: dict[bool, _Grammar] = {}


def _f_grammar(plain: bool) -> _Grammar:
    if (g := _F_GRAMMARS.get(plain)) is None:
        # `?>` ends a // or # comment, and so does \r: without either, `.` (not \n) is exact
        line = ".*+" if plain else r"[^\n\r?]*+(?:\?(?!>)[^\n\r?]*+)*+"
        g = _F_GRAMMARS[plain] = _Grammar(line)
    return g


def _f_plain(text: str) -> bool:
    """No \r and no `?>` in *text* (`"?>" in text` is slow: look for the rare `?` instead)."""
    if "\r" in text:
        return False
    i = text.find("?")
    for _ in range(64):
        if i < 0:
            return True
        if text.startswith(">", i + 1):
            return False
        i = text.find("?", i + 1)
    return False  # many `?`: the general patterns are exact too


def _fast_parse(text: str) -> SettingsInfo | None:
    """The result for a file of the common shapes above, or ``None`` to let the full parser run.

    Never disagrees with the full parser; never raises.
    """
    try:
        if (
            len(text) > MAX_TOKENS  # every token is at least one character long
            or not text.startswith("<?php")
            or not (text[5:6] in (" ", "\t", "\n") or text[5:7] == "\r\n")
        ):
            return None
        g = _f_grammar(_f_plain(text))
        root = _Arr()  # variable name -> value, as in the walker's store
        store = root.items
        match = g.stmt.match
        pos = 5
        while (m := match(text, pos)) is not None:
            var = m.group("var")
            if var is None:  # the end of the text
                return _Store(root).result()
            pos = m.end()
            relevant = _F_RELEVANT.get(var)
            if relevant is None:
                if var == "GLOBALS":
                    return None
                continue
            keys = m.group("path")
            if keys is not None:
                key = m.group("key")  # the first subscript; None for []
                if not (
                    (key is not None and key[0] in "'\"" and key[1:-1] in relevant)
                    or isinstance(store.get(var), str | int | float | bool)
                ):
                    continue  # writes a key the result does not read, of an array or of nothing
            if (lit := m.group("term")) is not None:
                value: _Value = _f_scalar(lit) if lit[0] in "'\"" else _DYN
            elif (lit := m.group("arr")) is not None:
                value = _f_array(g, lit)
            elif (lit := m.group("sc")) is not None:
                value = _f_scalar(lit)
            elif (lit := m.group("cat")) is not None:
                value = _f_concat(g, lit)
            else:
                return None
            _f_assign(root, var, () if keys is None else _f_path(g, keys), value)
        return None
    except Exception:  # pragma: no cover - a bug here must only cost time: the full parser runs
        return None


_F_PATHS: dict[str, tuple[int | str | _Append, ...]] = {}  # a few distinct ones per platform


def _f_path(g: _Grammar, keys: str) -> tuple[int | str | _Append, ...]:
    """The subscripts in *keys*, which the statement pattern matched."""
    if (path := _F_PATHS.get(keys)) is None:
        path = tuple(_f_key(k) if k else _APPEND for k in g.key.findall(keys))
        if len(_F_PATHS) < 1024:
            _F_PATHS[keys] = path
    return path


def _f_assign(root: _Arr, var: str, path: tuple[int | str | _Append, ...], value: _Value) -> None:
    """``_Store.apply([var, *path], "=", value, cond=False)`` (whose `_mark` then does nothing:
    unconditional writes only clear conditional marks, and there are none)."""
    node = root
    last: int | str | _Append = var
    for key in path:
        k = node.next_index() if isinstance(last, _Append) else last
        child = node.get(k)
        if isinstance(child, _Missing) or child is None:
            child = _Arr()
            node.set(k, child)
        elif isinstance(child, _Dynamic):
            child = _Arr(partial=True)
            node.set(k, child)
        elif not isinstance(child, _Arr):  # a scalar: PHP errors or does string offsets
            node.set(k, _DYN)
            return
        node = child
        last = key
    node.set(node.next_index() if isinstance(last, _Append) else last, value)


def _f_scalar(lit: str) -> _Scalar:
    c = lit[0]
    if c == "'":
        body = lit[1:-1]
        return _SQ_ESC.sub(r"\1", body) if "\\" in body else body
    if c == '"':
        return lit[1:-1]
    if c == "-" or c.isdigit():
        return int(lit)
    low = lit.lower()
    return True if low == "true" else False if low == "false" else None


def _f_key(lit: str) -> int | str:
    key = _key(_f_scalar(lit))
    if key is None:  # pragma: no cover - every scalar makes a key
        raise ValueError("no key")
    return key


def _f_concat(g: _Grammar, lit: str) -> _Value:
    parts: list[str] = []
    for term in g.terms.findall(lit):
        if term[0] in "$_":
            return _DYN
        parts.append(term[1:-1] if "\\" not in term else str(_f_scalar(term)))
    return "".join(parts)


def _f_array(g: _Grammar, lit: str) -> _Arr:
    """The value of *lit*, which the strict array pattern matched."""
    arr = _Arr()
    start = g.open.match(lit)
    if start is None:  # pragma: no cover - matched before
        raise ValueError("not an array")
    for k, v, a in g.elem.findall(lit, start.end(), len(lit) - 1):
        if not v:
            val: _Value = _f_array(g, a)
        elif v[0] == "'" and "\\" not in v:
            val = v[1:-1]
        else:
            val = _f_scalar(v)
        if not k:
            arr.set(arr.next_index(), val)
        elif k[0] == "'" and "\\" not in k and k[1:2] not in _F_INTISH:
            arr.set(k[1:-1], val)  # not an int key
        else:
            arr.set(_f_key(k), val)
    return arr


_F_INTISH: Final = frozenset("-0123456789")  # how a string that is an int key starts
