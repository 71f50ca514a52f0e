"""Read the database settings of a Drupal ``settings.php`` by parsing its PHP text.

The file belongs to the site, so nothing in it is executed or included: a small PHP tokenizer
and a statement walker apply PHP's semantics to the assignments that matter and nothing else.

What is read (:func:`parse_settings` returns a :class:`SettingsInfo`):

* ``$databases['default']['default']`` -- driver, database, host, port, username, prefix. The
  password is skipped: it never leaves this module, not even in an error message.
* ``$settings['hash_salt']`` -- only *whether* it is set to a non-empty value.
* ``$settings['config_sync_directory']``.
* every ``include``/``require``/``include_once``/``require_once`` that runs at top level (also
  inside ``if`` blocks), so that the caller can say "credentials may come from an included file".

Semantics, in file order, last assignment wins:

* ``$databases = [...]``, ``$databases['default'] = [...]``,
  ``$databases['default']['default'] = array (...)``, ``$databases[...]['host'] = '...'``,
  ``+=`` (array union: keys already there win), ``.=``, ``??=``, ``[]`` (append) and ``unset()``.
* Statements inside ``if``/``elseif``/``else``, ``switch``, loops and ``catch`` apply too, in
  order, and whatever they touch is marked *conditional*. A ``return``/``exit``/``die`` at top
  level ends the file; inside a block, it makes everything after it conditional.
* Function, class, interface, trait and enum bodies are declarations, not run: skipped.
* Values: literal arrays (``[...]`` and ``array(...)``, nested, trailing commas, string or int
  keys normalised as PHP does, auto-indexed entries), strings (single-quoted, double-quoted and
  heredoc without interpolation, nowdoc), numbers (decimal, hex, octal, binary, ``_``
  separators, floats), ``true``/``false``/``null`` in any case, parentheses, unary ``-``/``+``
  on numbers and ``.`` concatenation of those.
* Anything else is *dynamic* and never guessed: function calls (``getenv('DB_HOST')``),
  constants (``__DIR__``, ``PDO::ATTR_TIMEOUT``), variables, interpolated strings, backticks,
  arithmetic, ternaries, ``include`` used as a value, references. A dynamic key of the database
  entry is listed in :attr:`DatabaseSettings.dynamic`; ``"*"`` there means the entry as a whole,
  or an unknown set of its keys, is dynamic. Statements this walker does not model but that write
  to ``$databases``/``$settings`` (``$databases[...]['port']++``, ``&$databases[...]``,
  ``foreach (... as $databases...)``, ``[$databases] = ...``, ``extract()``, ``$$name``) make
  the part they touch dynamic.

The PHP tags are honoured (``<?php``, ``<?=``, ``?>``; text outside them is inline HTML), as are
all comment styles (``#[`` is an attribute, skipped), ``?>`` ending a ``//``/``#`` comment, and
``__halt_compiler()``.

Bounds: input over :data:`MAX_INPUT` (2 MiB; bytes, or characters for ``str``), bracket or
block nesting deeper than :data:`MAX_DEPTH` (64), more than :data:`MAX_TOKENS` tokens, and
lexical errors PHP itself would refuse (unterminated string or heredoc, stray byte, unbalanced
brackets, invalid number) give a result whose :attr:`SettingsInfo.error` says so and whose other
fields are empty. No input raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "DYNAMIC",
    "MAX_DEPTH",
    "MAX_INPUT",
    "MAX_TOKENS",
    "DatabaseSettings",
    "SettingsInfo",
    "parse_settings",
]

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


def parse_settings(text: str | bytes) -> SettingsInfo:
    """Parse the PHP *text* of a ``settings.php``; never raises, never executes anything.

    Bytes are decoded as UTF-8 with replacement characters for invalid sequences.
    """
    return _parse(text, fast=True)


def _slow_parse(text: str | bytes) -> SettingsInfo:
    """:func:`parse_settings` without the fast path: the reference the fast path must match."""
    return _parse(text, fast=False)


def _parse(text: str | bytes, *, fast: bool) -> SettingsInfo:
    try:
        if len(text) > MAX_INPUT:
            return _failed(f"input larger than {MAX_INPUT} bytes")
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if fast and (result := _fast_parse(text)) is not None:
            return result
        toks, match = _lex(text)
        walker = _Walker(toks, match)
        walker.run()
        return walker.result()
    except _ParseError as exc:
        return _failed(exc.message)
    except RecursionError:  # not expected: nesting is bounded well below the limit
        return _failed(f"nesting deeper than {MAX_DEPTH}")
    except Exception:  # a bug here must not take the observer down; the message holds no input
        return _failed("internal parser error")


def _failed(message: str) -> SettingsInfo:
    return SettingsInfo(
        database=None, includes=(), hash_salt_set=False, config_sync_directory=None, error=message
    )


class _ParseError(Exception):
    """Internal: ends the parse. The message names a kind and a line, never file content."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------------------- lexer

# Token kinds.
_OP: Final = "op"  # operator or punctuation; `?>` becomes ";"
_NAME: Final = "name"  # identifier, keyword or (namespaced) constant; value: lower case, no `\`
_VAR: Final = "var"  # $name; text: the name without `$`
_STR: Final = "str"  # a string whose value is known
_ISTR: Final = "istr"  # an interpolated string or a backtick command: value unknown
_NUM: Final = "num"  # int or float

_Scalar: TypeAlias = str | int | float | bool | None
_Tok: TypeAlias = tuple[str, str, _Scalar]  # (kind, text, value)

# PHP's label characters, written as the complement of the ASCII ones they exclude: a class
# with the range \x80-\U0010ffff costs ~0.2 s to compile at every start-up.
_ID0 = r"^\x00-\x40\x5b-\x5e\x60\x7b-\x7f"
_ID = r"^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"
_D = r"[0-9]++(?:_[0-9]++)*+"

_TOKEN = re.compile(
    rf"""
    (?:[ \t\n\r]++                                                    # whitespace and comments
      |(?://|\#(?!\[))[^\n\r?]*+(?:\?(?!>)[^\n\r?]*+)*+             # `?>` ends // and #
      |/\*[^*]*+(?:\*(?!/)[^*]*+)*+(?:\*/)?                            # to the end if unclosed
    )*+
    (?:
      (?P<var>\$[{_ID0}][{_ID}]*+)
    | (?P<name>\\?[{_ID0}][{_ID}]*+(?:\\[{_ID0}][{_ID}]*+)*+)
    | (?P<sq>'[^'\\]*+(?:\\.[^'\\]*+)*+')
    | (?P<num>0[xX][0-9a-fA-F]++(?:_[0-9a-fA-F]++)*+
             |0[bB][01]++(?:_[01]++)*+
             |0[oO][0-7]++(?:_[0-7]++)*+
             |\.{_D}(?:[eE][+-]?{_D})?
             |{_D}(?:\.(?:{_D})?)?(?:[eE][+-]?{_D})?)
    | (?P<dq>"[^"\\]*+(?:\\.[^"\\]*+)*+")
    | (?P<close>\?>(?:\r?\n)?)
    | (?P<hd><<<[ \t]*+(?P<hq>["']?)(?P<hl>[{_ID0}][{_ID}]*+)(?P=hq)\r?\n
              (?P<hb>.*?)^(?P<hi>[ \t]*+)(?P=hl)(?![{_ID}]))
    | (?P<hdbad><<<)
    | (?P<bt>`[^`\\]*+(?:\\.[^`\\]*+)*+`)
    | (?P<op><<=|>>=|\*\*=|\.\.\.|<=>|===|!==|\?\?=|\?->|<<|>>|\*\*|==|!=|<>|<=|>=|&&|\|\|
            |\+\+|--|\+=|-=|\*=|/=|\.=|%=|&=|\|=|\^=|->|=>|::|\?\?|\#\[
            |[-+*/%=<>!.&|^~?:;,()\[\]{{}}@$\\])
    | (?P<eof>\Z)
    | (?P<bad>.)
    )
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
_OPEN_TAG = re.compile(r"<\?(?:[pP][hH][pP](?:[ \t]|\r?\n|\Z)|=)")
_SQ_ESC = re.compile(r"\\([\\'])")
_DQ_ESC = re.compile(
    rf"""\\(?:(?P<c>[nrtvef\\$"])|(?P<o>[0-7]{{1,3}})|x(?P<x>[0-9A-Fa-f]{{1,2}})
              |u\{{(?P<u>[0-9A-Fa-f]++)\}})
       |(?P<i>\$[{_ID0}]|\{{\$|\$\{{)""",
    re.VERBOSE,
)
_SIMPLE_ESC: Final = {
    "n": "\n", "r": "\r", "t": "\t", "v": "\v", "e": "\x1b", "f": "\f",
    "\\": "\\", "$": "$", '"': '"',
}  # fmt: skip
_OPENERS: Final = {"(": ")", "[": "]", "{": "}", "#[": "]"}
_CLOSERS: Final = frozenset(")]}")
_INT_MAX: Final = 2**63 - 1


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _lex(text: str) -> tuple[list[_Tok], list[int]]:
    """Tokens of the PHP parts of *text*, and for each opening bracket the index of its closer.

    Comments and whitespace are dropped, ``?>`` becomes ``;``, ``<?=`` becomes ``echo``.
    """
    toks: list[_Tok] = []
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    append = toks.append
    pos = 0
    while (m0 := _OPEN_TAG.search(text, pos)) is not None:  # once per <?php ... ?> section
        if m0.group().startswith("<?="):
            append((_NAME, "echo", "echo"))
        pos = -1
        for m in _TOKEN.finditer(text, m0.end()):
            kind = m.lastgroup or "eof"  # every alternative is a named group
            tok: _Tok
            if kind == "op":
                op = m.group(kind)
                tok = (_OP, op, None)
                if op in _OPENERS:
                    stack.append(len(toks))
                    if len(stack) > MAX_DEPTH:
                        raise _ParseError(
                            f"nesting deeper than {MAX_DEPTH} at line {_line(text, m.start(kind))}"
                        )
                elif op in _CLOSERS:
                    if not stack or _OPENERS[toks[stack[-1]][1]] != op:
                        line = _line(text, m.start(kind))
                        raise _ParseError(f"unbalanced '{op}' at line {line}")
                    pairs.append((stack.pop(), len(toks)))
            elif kind == "var":
                tok = (_VAR, m.group(kind)[1:], None)
            elif kind == "name":
                word = m.group(kind)
                low = word.lstrip("\\").lower()
                tok = (_NAME, word, low)
                if low == "__halt_compiler":
                    append(tok)
                    break
            elif kind == "sq":
                body = m.group(kind)[1:-1]
                tok = (_STR, "'", _SQ_ESC.sub(r"\1", body) if "\\" in body else body)
            elif kind == "num":
                tok = (_NUM, "0", _number(m.group(kind), text, m.start(kind)))
            elif kind == "dq":
                value = _unescape(m.group(kind)[1:-1], heredoc=False)
                tok = (_ISTR, '"', None) if value is None else (_STR, '"', value)
            elif kind == "close":
                append((_OP, ";", None))
                pos = m.end()
                break
            elif kind == "hd":
                value = _heredoc(m, text, m.start(kind))
                tok = (_ISTR, "<<<", None) if value is None else (_STR, "<<<", value)
            elif kind == "bt":
                tok = (_ISTR, "`", None)
            elif kind == "eof":
                break
            elif kind == "hdbad":
                raise _ParseError(f"unterminated heredoc at line {_line(text, m.start(kind))}")
            else:  # bad
                ch = m.group(kind)
                line = _line(text, m.start(kind))
                if ch in "'\"`":
                    raise _ParseError(f"unterminated string at line {line}")
                raise _ParseError(f"unexpected character U+{ord(ch):04X} at line {line}")
            append(tok)
            if len(toks) > MAX_TOKENS:
                raise _ParseError(f"more than {MAX_TOKENS} tokens")
        if pos < 0 or len(toks) > MAX_TOKENS:
            break
    if len(toks) > MAX_TOKENS:
        raise _ParseError(f"more than {MAX_TOKENS} tokens")
    if stack:
        raise _ParseError(f"unclosed '{toks[stack[-1]][1]}'")
    match = [-1] * len(toks)
    for opener, closer in pairs:
        match[opener] = closer
    return toks, match


def _number(lit: str, text: str, start: int) -> int | float:
    s = lit.replace("_", "")
    low = s.lower()
    if low.startswith(("0x", "0b", "0o")):
        value = int(s[2:], {"x": 16, "b": 2, "o": 8}[low[1]])
    elif "." in s or "e" in low:
        return float(s)
    elif len(s) > 1 and s[0] == "0":
        if "8" in s or "9" in s:
            raise _ParseError(f"invalid numeric literal at line {_line(text, start)}")
        value = int(s, 8)
    else:
        value = int(s)
    return value if value <= _INT_MAX else float(value)


def _unescape(body: str, *, heredoc: bool) -> str | None:
    """The value of a double-quoted (or heredoc) string body; ``None`` when it interpolates."""
    if "\\" not in body and "$" not in body:
        return body
    out: list[str] = []
    last = 0
    for m in _DQ_ESC.finditer(body):
        if m.group("i") is not None:
            return None
        c = m.group("c")
        if c is not None:
            if heredoc and c == '"':
                continue  # not an escape in a heredoc: kept as written
            rep = _SIMPLE_ESC[c]
        elif (o := m.group("o")) is not None:
            rep = chr(int(o, 8) & 0xFF)
        elif (x := m.group("x")) is not None:
            rep = chr(int(x, 16))
        else:
            cp = int(m.group("u"), 16)
            if cp > 0x10FFFF:
                return None  # PHP refuses to compile it; do not guess
            rep = "\ufffd" if 0xD800 <= cp <= 0xDFFF else chr(cp)
        out.append(body[last : m.start()])
        out.append(rep)
        last = m.end()
    out.append(body[last:])
    return "".join(out)


def _heredoc(m: re.Match[str], text: str, start: int) -> str | None:
    body = m.group("hb")
    if body.endswith("\n"):
        body = body[:-2] if body.endswith("\r\n") else body[:-1]
    indent = m.group("hi")
    if indent:
        lines = body.split("\n")
        for i, line in enumerate(lines):
            if line.startswith(indent):
                lines[i] = line[len(indent) :]
            elif line.strip(" \t\r"):
                raise _ParseError(f"invalid heredoc body indentation at line {_line(text, start)}")
            else:
                lines[i] = line.lstrip(" \t")
        body = "\n".join(lines)
    if m.group("hq") == "'":
        return body
    return _unescape(body, heredoc=True)


# ------------------------------------------------------------------------------- value model


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


# ------------------------------------------------------------------------------------- walker

_TRACKED: Final = frozenset({"databases", "settings"})
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
_DB_PATH: Final = ("databases", "default", "default")


class _Walker:
    """Walks the statements that run at top level and keeps ``$databases``/``$settings``."""

    def __init__(self, toks: list[_Tok], match: list[int]) -> None:
        self.toks = toks
        self.match = match
        self.n = len(toks)
        self.store = _Arr()  # variable name -> value
        self.cond_levels: set[int] = set()  # conditional writes of $databases[...] up to D
        self.cond_keys: set[int | str] = set()  # ... and of D[<key>] (or below it)
        self.includes: list[str] = []
        self.halted = False
        self.rest_conditional = False

    # ---- results

    def run(self) -> None:
        self._stmts(0, self.n, False, 0, frozenset())

    def result(self) -> SettingsInfo:
        settings = self.store.get("settings")
        salt = self._lookup(settings, "hash_salt")
        sync = self._lookup(settings, "config_sync_directory")
        if isinstance(sync, _Dynamic) or (isinstance(sync, _Arr) and not _is_literal(sync)):
            sync_dir: str | None = DYNAMIC
        else:
            sync_dir = None if isinstance(sync, _Missing | _Arr) else _php_str(sync)
        return SettingsInfo(
            database=self._database(),
            includes=tuple(self.includes),
            hash_salt_set=not isinstance(salt, _Missing) and not _php_empty(salt),
            config_sync_directory=sync_dir,
            error=None,
        )

    @staticmethod
    def _lookup(node: _Value | _Missing, key: int | str) -> _Value | _Missing:
        if isinstance(node, _Arr):
            return node.get(key)
        if isinstance(node, _Dynamic):
            return _DYN
        return _MISSING

    def _database(self) -> DatabaseSettings | None:
        node: _Value | _Missing = self.store
        for key in _DB_PATH:
            node = self._lookup(node, key)
        conditional = bool(self.cond_levels or self.cond_keys)
        if isinstance(node, _Missing):
            return None
        if not isinstance(node, _Arr):
            dynamic = ("*",) if isinstance(node, _Dynamic) else ()
            return DatabaseSettings(None, None, None, None, None, None, dynamic, conditional)
        dyn = [
            str(k)
            for k, v in node.items.items()
            if isinstance(v, _Arr | _Dynamic) and not _is_literal(v)  # scalars are literal
        ]
        if node.partial:
            dyn.append("*")
        items = node.items

        def text(key: str) -> str | None:
            v = items.get(key)
            if isinstance(v, str):
                return v
            return str(v) if isinstance(v, int) and not isinstance(v, bool) else None

        port = items.get("port")
        return DatabaseSettings(
            driver=text("driver"),
            database=text("database"),
            host=text("host"),
            port=port if isinstance(port, str | int) and not isinstance(port, bool) else None,
            username=text("username"),
            prefix=text("prefix"),
            dynamic=tuple(dyn),
            conditional=conditional,
        )

    # ---- statements

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
        self._apply([name, *path], op[1], value, cond)
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
                    self._apply([t[1], *path], "unset", None, cond)
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
                        self.includes.append(DYNAMIC)
                        continue
                    b = a + 1
                    while b < e:
                        kk, tt, _ = toks[b]
                        if kk == _OP and (tt in (";", ",", "=>") or tt in _CLOSERS):
                            break
                        b = self.match[b] + 1 if self.match[b] >= 0 else b + 1
                    v = self._value(a + 1, b) if b > a + 1 else _DYN
                    self.includes.append(v if isinstance(v, str) else DYNAMIC)
                    operand_end = b
                elif value in ("extract", "parse_str") and self._is_op(a + 1, "("):
                    self._taint_all(cond)
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
                    self._taint([target, *path], cond)
            elif (
                kind == _OP
                and text == "$"
                and (self._tok(a + 1)[0] == _VAR or self._is_op(a + 1, "{"))
            ):
                self._taint_all(cond)  # $$name / ${expr}: any variable

    def _taint_vars(self, i: int, e: int, cond: bool) -> None:
        for a in range(i, e):
            kind, text, _ = self.toks[a]
            if kind == _VAR and text in _TRACKED:
                path, _j = self._path(a + 1, e)
                self._taint([text, *path], cond)

    def _taint(self, path: list[_PathKey], cond: bool) -> None:
        cut = next((n for n, k in enumerate(path) if isinstance(k, _Append | _DynKey)), len(path))
        self._apply(path[: max(cut, 1)], "=", _DYN, cond)

    def _taint_all(self, cond: bool) -> None:
        for name in _TRACKED:
            self._apply([name], "=", _DYN, cond)

    # ---- the store

    def _apply(self, path: list[_PathKey], op: str, value: _Value, cond: bool) -> None:
        """``<path> <op> value`` on the store (``op`` "unset" removes); *path*[0] is a name."""
        if len(path) > MAX_DEPTH:
            raise _ParseError(f"subscripts nested deeper than {MAX_DEPTH}")
        node: _Arr = self.store
        done: list[int | str] = []
        for key in path[:-1]:
            if isinstance(key, _DynKey):
                node.forget()
                self._mark(done, cond, whole=False)
                return
            k = node.next_index() if isinstance(key, _Append) else key
            child = node.get(k)
            if isinstance(child, _Missing) or child is None:
                if op == "unset":
                    return
                child = _Arr()
                node.set(k, child)
            elif isinstance(child, _Dynamic):
                if op == "unset":
                    self._mark([*done, k], cond, whole=False)
                    return
                child = _Arr(partial=True)
                node.set(k, child)
            elif not isinstance(child, _Arr):  # a scalar: PHP errors or does string offsets
                node.set(k, _DYN)
                self._mark([*done, k], cond, whole=False)
                return
            node = child
            done.append(k)
        last = path[-1]
        if isinstance(last, _DynKey):
            node.forget()
            self._mark(done, cond, whole=False)
            return
        k = node.next_index() if isinstance(last, _Append) else last
        cur = node.get(k)
        if op == "unset":
            node.items.pop(k, None)
        else:
            node.set(k, _combine(cur, op, value))
        self._mark([*done, k], cond, whole=op in ("=", "unset"))

    def _mark(self, path: list[int | str], cond: bool, *, whole: bool) -> None:
        """Keep track of conditional writes to D = ``$databases['default']['default']``.

        A write to D or above it (*whole*: replacing the value) clears what conditional writes
        below it did; below D, only the first key is tracked (so a conditional write deeper in
        an option array keeps that option conditional), which keeps this O(1).
        """
        n = len(path)
        if tuple(path[:3]) != _DB_PATH[:n]:
            return
        if n <= len(_DB_PATH):
            if cond:
                self.cond_levels.add(n)
            elif whole:
                self.cond_levels = {c for c in self.cond_levels if c < n}
                self.cond_keys.clear()
        elif cond:
            self.cond_keys.add(path[3])
        elif whole and n == len(_DB_PATH) + 1:
            self.cond_keys.discard(path[3])

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


# ---------------------------------------------------------------------------------- fast path
#
# Most settings.php files are the installer's or a template's: long comments and a handful of
# `$name[...] = <literal>;` statements. `_fast_parse` recognises such a file statement by
# statement with one compiled regex (C speed: Python code never sees the comments) and decodes
# only the values that can change the result, into the walker's store (`_f_assign` does what
# `_Walker._apply` does for them), read by `_Walker.result`. Any other construct,
# anywhere, makes it decline (return None) and the full parser run: the fast path may decline
# any text, but what it accepts the lexer tokenises without error and the same way (its string
# and comment patterns are the lexer's, minus the cases that escape, interpolate or do not
# terminate), and the walker reads as the plain assignments applied here.
#
# Accepted: `<?php` and a blank at the very start of the text, then only statements
#     $name[<scalar>]...[<scalar>] = <value>;      (0 to 16 subscripts; `[]` appends)
# with an ASCII variable name other than GLOBALS and `=` only. <value> is made of inert tokens
# (scalars, `$app_root`, `$site_path`, `__DIR__`, `array`, `,`, `.`, `=>`), brackets balanced
# and nested at most three deep: nothing the walker acts upon. Scalars: single-quoted strings,
# double-quoted strings without `\` or `$`, decimal ints of at most 18 digits with an optional
# `-`, true/false/null in any case. The value of a statement that can change the result
# (`$databases...`, `$settings`, `$settings['hash_salt'|'config_sync_directory']...`) must
# moreover be a scalar, a literal array (`[...]`/`array (...)`, nested at most three deep,
# keys optional, trailing comma) or a `.` concatenation of quoted strings, `$app_root`,
# `$site_path` and `__DIR__` (dynamic when it holds one of the last three). The text is at most
# MAX_TOKENS characters long, so it has fewer tokens than that.

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
        root = _Arr()  # variable name -> value, as the walker's store
        store = root.items
        match = g.stmt.match
        pos = 5
        while (m := match(text, pos)) is not None:
            var = m.group("var")
            if var is None:  # the end of the text
                walker = _Walker([], [])
                walker.store = root
                return walker.result()
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
    """``_Walker._apply([var, *path], "=", value, cond=False)`` (whose `_mark` then does nothing:
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
