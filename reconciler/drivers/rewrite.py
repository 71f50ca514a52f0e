"""Rewriting a site's SQL dump for a clone: pure, line by line, on the way through the controller.

Aegir's deploy rewrites a cloned site's stored content when its name changes: the `sites/<old>/`
paths and the `//<old>/` URLs. Done with a blind search and replace, that breaks every
PHP-serialized value holding one (`s:N:"...";` keeps its old byte count N and `unserialize`
fails: Drupal's config, state and cache rows). This rewriter changes only the values of string
literals in the rows of a dump, and corrects N for every replacement made inside a serialized
string (nested ones too).

What is replaced, in every string value of the rows of an `INSERT`/`REPLACE` statement (on its
line, or one row per line after it as MariaDB's mysqldump writes them; other lines pass unchanged):

* `sites/<old>/` by `sites/<new>/` where `sites` does not continue a longer name (`mysites/...`);
* `//<old>` by `//<new>` where the host name ends there: followed by `/`, `:`, `?`, a quote, the end
  of the value, anything but a host name character (`//a.example.com.evil` and `//aa.example.com`
  are other hosts). The host is matched without regard to case;
* the same two in their JSON-escaped forms (`sites\\/<old>\\/`, `\\/\\/<old>`).

Dialects (each value is decoded, changed, and encoded again only when it changed, so a line with
nothing to replace is passed on byte for byte):

* `mysql`: mysqldump's output. Literals in single quotes with backslash escapes (`\\'`, `\\"`,
  `\\\\`, `\\0`, `\\n`, `\\r`, `\\Z`; `\\t`, `\\b` and `''` read too), identifiers in backticks, and
  hexadecimal literals (`0x...`, `X'...'`) for `--hex-blob`.
* `sqlite`: `sqlite3 .dump`. Literals in single quotes with `''`; no backslash escapes. Newlines and
  carriage returns are written as markers inside `replace('...','\\n',char(10))` (the marker is
  chosen by sqlite3 to be absent from the value, e.g. `\\012`); the markers are decoded before the
  byte counts are taken and put back after. Blobs as `X'...'`. An old sqlite3 that writes raw
  newlines inside a literal is followed across lines; such a literal is passed on unchanged.

Without an explicit dialect each line tells its own: a backquoted table name or `VALUES (` is
mysqldump's, `VALUES(` sqlite3's. A line that cannot be read completely (an unbalanced quote, a
marker that cannot be put back) is passed on unchanged: never half rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

__all__ = ["Dialect", "DumpRewriter", "dump_rewriter"]

Dialect = Literal["mysql", "sqlite"]

_DATA = (b"INSERT ", b"REPLACE ")
_SERIALIZED = re.compile(rb's:(\d{1,10}):"')
_MAX_DEPTH = 32
"""Serialized strings nested deeper than this are left as they are (never half changed)."""

_MYSQL_TOKEN = re.compile(
    rb"(?P<str>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')"
    rb"|(?P<hex>(?<![A-Za-z0-9_$])(?:[Xx]'[0-9A-Fa-f]*'|0x[0-9A-Fa-f]+))"
    rb'|(?P<other>`[^`]*(?:``[^`]*)*`|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*")',
    re.S,
)
_SQLITE_TOKEN = re.compile(
    rb"(?P<str>'[^']*(?:''[^']*)*')"
    rb"|(?P<hex>(?<![A-Za-z0-9_$])[Xx]'[0-9A-Fa-f]*')"
    rb'|(?P<other>"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`)',
    re.S,
)
_QUOTES = re.compile(rb"['\"`]")
_HEX_HINT = re.compile(rb"(?<![A-Za-z0-9_$])(?:0x|[Xx]')")
"""A line that may hold a hexadecimal literal: its values must be decoded to be searched."""
_WRAPPER = re.compile(rb",'((?:[^']|'')*)',char\((\d{1,3})\)\)")
_REPLACE_CALL = b"replace("

_MYSQL_ESCAPE = re.compile(rb"\\(.)|''", re.S)
_MYSQL_DECODED = {
    b"0": b"\0",
    b"b": b"\b",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"Z": b"\x1a",
    b"%": b"\\%",
    b"_": b"\\_",
}
_MYSQL_SPECIAL = re.compile(rb"[\0\n\r\x1a\"'\\]")
_MYSQL_ENCODED = {
    0: b"\\0",
    10: b"\\n",
    13: b"\\r",
    26: b"\\Z",
    34: b'\\"',
    39: b"\\'",
    92: b"\\\\",
}


def _mysql_decode(raw: bytes) -> bytes:
    def one(m: re.Match[bytes]) -> bytes:
        escaped = m.group(1)
        return b"'" if escaped is None else _MYSQL_DECODED.get(escaped, escaped)

    return _MYSQL_ESCAPE.sub(one, raw)


def _mysql_encode(value: bytes) -> bytes:
    """What mysqldump writes (mysql_real_escape_string)."""
    return _MYSQL_SPECIAL.sub(lambda m: _MYSQL_ENCODED[m.group()[0]], value)


def _sqlite_decode(raw: bytes, wrappers: list[tuple[bytes, int]]) -> bytes:
    value = raw.replace(b"''", b"'")
    for marker, char in wrappers:
        value = value.replace(marker, bytes([char]))
    return value


def _sqlite_encode(value: bytes, wrappers: list[tuple[bytes, int]]) -> bytes:
    for marker, char in reversed(wrappers):
        value = value.replace(bytes([char]), marker)
    return value.replace(b"'", b"''")


def _detect(line: bytes) -> Dialect | None:
    """The dialect a line shows: mysqldump's header and backquotes, or sqlite3's."""
    if line.startswith((b"-- MariaDB dump", b"-- MySQL dump", b"/*!", b"/*M!")):
        return "mysql"
    if line.startswith((b"PRAGMA foreign_keys", b"BEGIN TRANSACTION;")):
        return "sqlite"
    if not line.startswith(_DATA):
        return None
    cut = line.find(b"VALUES")
    if b"`" in line[: cut if cut >= 0 else len(line)]:
        return "mysql"
    if cut < 0:
        return None
    if line.startswith(b"VALUES (", cut):
        return "mysql"
    return "sqlite" if line.startswith(b"VALUES(", cut) else None


def _odd(line: bytes) -> bool:
    """An odd count of single quotes: an sqlite3 literal opens (or closes) on this line."""
    return bool(line.count(b"'") & 1)


class DumpRewriter:
    """A callable for `Transfer.rewrite`: whole lines of a dump in, the same lines rewritten out.

    It keeps state between calls: the dump's dialect once a line showed it, whether the lines
    given last ended inside a statement written one row per line (MariaDB's mysqldump writes
    `INSERT INTO `t` VALUES`, then each row on a line of its own), and whether they ended inside
    an sqlite3 literal (an old sqlite3 writes raw newlines inside literals)."""

    def __init__(self, old_site: str, new_site: str, dialect: Dialect | None = None) -> None:
        for name in (old_site, new_site):
            if not name or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
                raise ValueError(f"not a site name: {name!r}")
        self.old = old_site.encode()
        self.new = new_site.lower().encode()
        self.dialect: Dialect | None = dialect
        self._needle = self.old.lower()
        old = re.escape(self.old)
        self._pattern = re.compile(
            rb"(?<![A-Za-z0-9_.-])sites(?P<sep>/|\\/)" + old + rb"(?P=sep)"
            rb"|(?P<slashes>//|\\/\\/)(?i:" + old + rb")(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])"
        )
        self._open = False
        self._rows: Dialect | None = None

    # -- values

    def _plain(self, text: bytes) -> bytes:
        def one(m: re.Match[bytes]) -> bytes:
            slashes = m.group("slashes")
            if slashes is not None:
                return slashes + self.new
            sep = m.group("sep")
            return b"sites" + sep + self.new + sep

        return self._pattern.sub(one, text)

    def _serialized(self, value: bytes, depth: int) -> bytes:
        out: list[bytes] = []
        done = search = 0
        while (m := _SERIALIZED.search(value, search)) is not None:
            start, end = m.end(), m.end() + int(m.group(1))
            if value[end : end + 2] != b'";':
                search = m.start() + 1
                continue
            out.append(self._plain(value[done : m.start()]))
            inner = value[start:end]
            if depth < _MAX_DEPTH:
                inner = self._serialized(inner, depth + 1)
            out.append(b's:%d:"%b";' % (len(inner), inner))
            done = search = end + 2
        out.append(self._plain(value[done:]))
        return b"".join(out)

    def value(self, value: bytes) -> bytes:
        """One decoded value rewritten; serialized strings keep their byte counts right."""
        if self._needle not in value.lower():
            return value
        return self._serialized(value, 0)

    # -- lines

    def _literal(self, line: bytes, m: re.Match[bytes], sqlite: bool) -> tuple[bytes, int]:
        """The literal at `m` (and the `replace()` wrappers after it), rewritten; where it ends."""
        raw = m.group()[1:-1]
        if not sqlite:
            old = _mysql_decode(raw)
            new = self.value(old)
            return (m.group() if new == old else b"'" + _mysql_encode(new) + b"'"), m.end()
        calls = 0
        head = line[: m.start()]
        while head.endswith(_REPLACE_CALL * (calls + 1)):
            calls += 1
        wrappers: list[tuple[bytes, int]] = []
        end = m.end()
        for _ in range(calls):
            wrapper = _WRAPPER.match(line, end)
            if wrapper is None or int(wrapper.group(2)) > 127:
                return m.group(), m.end()  # not a wrapper this rewriter knows: left alone
            wrappers.append((wrapper.group(1).replace(b"''", b"'"), int(wrapper.group(2))))
            end = wrapper.end()
        old = _sqlite_decode(raw, wrappers)
        new = self.value(old)
        if new == old:
            return line[m.start() : end], end
        encoded = _sqlite_encode(new, wrappers)
        if _sqlite_decode(encoded, wrappers) != new:  # pragma: no cover - markers never collide
            return line[m.start() : end], end
        return b"'" + encoded + b"'" + line[m.end() : end], end

    def _hex(self, token: bytes) -> bytes:
        """`0x...` or `X'...'`: the bytes rewritten, written back in the same form and case."""
        quoted = token[1:2] == b"'"
        digits = token[2:-1] if quoted else token[2:]
        if len(digits) % 2:
            return token
        old = bytes.fromhex(digits.decode())
        new = self.value(old)
        if new == old:
            return token
        text = new.hex().encode()
        if digits != digits.lower():
            text = text.upper()
        return token[:2] + text + (b"'" if quoted else b"")

    def line(self, line: bytes, dialect: Dialect) -> bytes:
        """One INSERT line of `dialect` rewritten, or returned as it is when it cannot be read."""
        token = _SQLITE_TOKEN if dialect == "sqlite" else _MYSQL_TOKEN
        out: list[bytes] = []
        pos = 0
        while True:
            m = token.search(line, pos)
            gap = line[pos : m.start() if m is not None else len(line)]
            if _QUOTES.search(gap):
                return line  # an unbalanced quote: not a line this rewriter can read
            out.append(gap)
            if m is None:
                return b"".join(out)
            kind = m.lastgroup
            if kind == "str":
                text, pos = self._literal(line, m, dialect == "sqlite")
                out.append(text)
                continue
            out.append(self._hex(m.group()) if kind == "hex" else m.group())
            pos = m.end()

    def __call__(self, chunk: bytes) -> bytes:
        """Whole lines (one or many) of the dump, rewritten."""
        return b"\n".join([self._one(line) for line in chunk.split(b"\n")])

    def _one(self, line: bytes) -> bytes:
        if not line:  # what follows the last line end of a chunk: no line of its own
            return line
        if self._open:  # inside an old sqlite3's multi-line literal: passed on as it is
            self._open = _odd(line) != self._open
            return line
        if line.startswith(_DATA):
            dialect = self.dialect or _detect(line)
            self._rows = None if line.rstrip().endswith(b";") else dialect
        elif self._rows is not None and line.startswith(b"("):
            dialect = self._rows  # a row of a statement written one row per line (MariaDB 10.11)
            if line.rstrip().endswith(b";"):
                self._rows = None
        else:
            self._rows = None
            if self.dialect is None:
                self.dialect = _detect(line)  # a dump's first lines name its tool
            if self.dialect == "sqlite" and _odd(line):
                self._open = True
            return line
        if dialect == "sqlite" and _odd(line):
            self._open, self._rows = True, None
            return line
        if dialect is None or not (self._needle in line.lower() or _HEX_HINT.search(line)):
            return line
        return self.line(line, dialect)


def dump_rewriter(
    old_site: str, new_site: str, dialect: Dialect | None = None
) -> Callable[[bytes], bytes]:
    """The `Transfer.rewrite` of a clone from `old_site` to `new_site` (see the module text).
    `dialect`: the source's dump tool (`mysql`: mysqldump; `sqlite`: sqlite3), else per line."""
    return DumpRewriter(old_site, new_site, dialect)
