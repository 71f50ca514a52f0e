"""The PHP tokenizer: the text of a ``settings.php`` as a list of tokens, nothing executed.

The PHP tags are honoured (``<?php``, ``<?=``, ``?>``; text outside them is inline HTML), as are
all comment styles (``#[`` is an attribute, skipped), ``?>`` ending a ``//``/``#`` comment, and
``__halt_compiler()``. Strings get their values: single-quoted, double-quoted and heredoc
without interpolation, nowdoc; an interpolated string or a backtick command is a token whose
value is unknown. Numbers: decimal, hex, octal, binary, ``_`` separators, floats.

Lexical errors PHP itself would refuse (unterminated string or heredoc, stray byte, unbalanced
brackets, invalid number), bracket nesting deeper than :data:`MAX_DEPTH` and more than
:data:`MAX_TOKENS` tokens raise :class:`_ParseError`.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

from reconciler.observe.settings_php.model import MAX_DEPTH, MAX_TOKENS, _ParseError
from reconciler.observe.settings_php.values import _INT_MAX

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
