"""The clone's dump rewriter, as tables of cases: which names are rewritten and which are other
names, PHP-serialized strings that PHP itself still unserializes after their byte counts changed,
both dialects' escapes around the values (mysqldump's backslashes, sqlite3's `''` and replace()
markers, written here by the real sqlite3), lines that are not data, and byte-identical output
when nothing matches."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.drivers.rewrite import DumpRewriter, dump_rewriter

OLD, NEW = "a.example.com", "clone.example.org"  # 13 and 17 bytes: every count must change

# (value in the source, value in the clone)
VALUES: list[tuple[str, str]] = [
    ("no link here", "no link here"),
    ("see http://a.example.com/node/1", "see http://clone.example.org/node/1"),
    ("https://a.example.com:8443/x", "https://clone.example.org:8443/x"),
    ("http://a.example.com", "http://clone.example.org"),
    ('<a href="http://a.example.com">home</a>', '<a href="http://clone.example.org">home</a>'),
    ("//a.example.com?x=1#top", "//clone.example.org?x=1#top"),
    ("visit http://a.example.com. Then", "visit http://clone.example.org. Then"),
    ("HTTP://A.Example.COM/x", "HTTP://clone.example.org/x"),
    ("/sites/a.example.com/files/x.txt", "/sites/clone.example.org/files/x.txt"),
    ("sites/a.example.com/private", "sites/clone.example.org/private"),
    (
        '{"u":"http:\\/\\/a.example.com\\/sites\\/a.example.com\\/f.txt"}',
        '{"u":"http:\\/\\/clone.example.org\\/sites\\/clone.example.org\\/f.txt"}',
    ),
    (
        "http://a.example.com/sites/a.example.com/files/x.txt",
        "http://clone.example.org/sites/clone.example.org/files/x.txt",
    ),
    # other names, and the name where it is no link nor site path: left alone
    ("//aa.example.com/ //xa.example.com/", "//aa.example.com/ //xa.example.com/"),
    ("//a.example.com.evil/ //a.example.com-x/", "//a.example.com.evil/ //a.example.com-x/"),
    ("//a.example.com_x/ //a.example.comx/", "//a.example.com_x/ //a.example.comx/"),
    (
        "sites/aa.example.com/ sites/a.example.com.evil/",
        "sites/aa.example.com/ sites/a.example.com.evil/",
    ),
    ("mysites/a.example.com/ sites/a.example.com", "mysites/a.example.com/ sites/a.example.com"),
    (
        "sites/A.EXAMPLE.COM/ admin@a.example.com a.example.com",
        "sites/A.EXAMPLE.COM/ admin@a.example.com a.example.com",
    ),
    # escapes of both dialects right around the names
    ('it\'s "http://a.example.com/"\\', 'it\'s "http://clone.example.org/"\\'),
    ("'//a.example.com/'\n\r\t\0\x1a\\n", "'//clone.example.org/'\n\r\t\0\x1a\\n"),
    ("é //a.example.com/ ü", "é //clone.example.org/ ü"),
]

# PHP values (as JSON) stored serialized; the clone's value is the same with the links rewritten
SERIALIZED: list[object] = [
    "http://a.example.com/sites/a.example.com/files/x.txt",
    {"link": "http://a.example.com/x", "other": "no link", "n": 3, "ok": True},
    ["é //a.example.com/ ü", 'quote "; inside //a.example.com/', 's:3:"no";'],
    {"nested": {"deeper": ["sites/a.example.com/a", {"x": "//a.example.com:80/"}]}},
    "",
    {"text": 'it\'s\r\n"quoted" \\ //a.example.com/\n', "after": "line's\nend"},
]


def _clone(value: object) -> object:
    if isinstance(value, str):
        value = value.replace("//a.example.com", "//clone.example.org")
        return value.replace("sites/a.example.com/", "sites/clone.example.org/")
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _php(code: str, values: list[bytes]) -> list[object]:
    """Run `code` over base64 values on stdin (as `$v`); the JSON list of what it returns."""
    script = (
        "$out = []; foreach (json_decode(stream_get_contents(STDIN)) as $b) "
        "{ $v = base64_decode($b); " + code + " } echo json_encode($out);"
    )
    done = subprocess.run(
        ["php", "-r", script],
        input=json.dumps([base64.b64encode(v).decode() for v in values]),
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[object] = json.loads(done.stdout)
    return result


def serialize(values: list[object]) -> list[bytes]:
    """PHP's own serialize() of JSON values (objects as arrays)."""
    raw = [json.dumps(v).encode() for v in values]
    out = _php("$out[] = base64_encode(serialize(json_decode($v, true)));", raw)
    return [base64.b64decode(str(o)) for o in out]


def unserialize(values: list[bytes]) -> list[object]:
    """PHP's own unserialize(); a value that does not unserialize is reported as such."""
    return _php('$u = @unserialize($v); $out[] = $u === false ? "@@failed@@" : $u;', values)


def mysql_literal(value: bytes) -> bytes:
    """A string as mysqldump writes it (mysql_real_escape_string), in quotes."""
    table = {0: b"\\0", 10: b"\\n", 13: b"\\r", 26: b"\\Z", 34: b'\\"', 39: b"\\'", 92: b"\\\\"}
    return b"'" + b"".join(table.get(c, bytes([c])) for c in value) + b"'"


def mysql_values(line: bytes) -> list[bytes]:
    """The string values of a mysqldump line, decoded by MySQL's escape rules."""
    escapes = {b"0": b"\0", b"n": b"\n", b"r": b"\r", b"Z": b"\x1a", b"t": b"\t", b"b": b"\b"}
    literals = re.findall(rb"'((?:[^'\\]|\\.)*)'", line, re.S)
    return [
        re.sub(rb"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), lit, flags=re.S)
        for lit in literals
    ]


def sqlite_dump(tmp_path: Path, rows: Sequence[tuple[int, bytes | str]]) -> bytes:
    """What the real sqlite3 .dump writes for these rows of table t(id, v)."""
    db = tmp_path / f"d{len(list(tmp_path.iterdir()))}.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    conn.close()
    return subprocess.run(["sqlite3", str(db), ".dump"], capture_output=True, check=True).stdout


def sqlite_load(tmp_path: Path, dump: bytes) -> list[tuple[int, object]]:
    """The rows of table t after the real SQLite engine ran `dump`."""
    with sqlite3.connect(":memory:") as conn:
        conn.executescript(dump.decode())
        rows: list[tuple[int, object]] = conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize(("before", "after"), VALUES)
def test_values_of_a_mysqldump_row(before: str, after: str) -> None:
    line = b"INSERT INTO `t` VALUES (1," + mysql_literal(before.encode()) + b",NULL),(2,'x');"
    out = dump_rewriter(OLD, NEW, "mysql")(line)
    assert mysql_values(out) == [after.encode(), b"x"]
    if before == after:
        assert out == line  # byte for byte
    assert dump_rewriter(OLD, NEW)(line) == out  # the dialect told by the line itself


def test_values_of_a_sqlite3_dump(tmp_path: Path) -> None:
    # SQLite text ends at a NUL byte (sqlite3 .dump writes it so): that case is mysqldump's only
    cases = [(b.replace("\0", ""), a.replace("\0", "")) for b, a in VALUES]
    dump = sqlite_dump(tmp_path, [(i, before) for i, (before, _) in enumerate(cases)])
    assert b"char(10)" in dump and b"''" in dump  # the real sqlite3's escapes are exercised
    out = dump_rewriter(OLD, NEW, "sqlite")(dump)
    assert sqlite_load(tmp_path, out) == [(i, after) for i, (_, after) in enumerate(cases)]
    assert dump_rewriter(OLD, NEW)(dump) == out
    untouched = [(i, b) for i, (b, a) in enumerate(cases) if b == a]
    same = sqlite_dump(tmp_path, untouched)
    assert dump_rewriter(OLD, NEW, "sqlite")(same) == same


def test_serialized_strings_still_unserialize_in_both_dialects(tmp_path: Path) -> None:
    stored = serialize(SERIALIZED)
    expected = [_clone(v) for v in SERIALIZED]
    assert unserialize(stored) == SERIALIZED
    # mysqldump: the quotes of the serialized strings are escaped in the SQL literal
    line = (
        b"INSERT INTO `kv` VALUES "
        + b",".join(b"(%d,%b)" % (i, mysql_literal(v)) for i, v in enumerate(stored))
        + b";"
    )
    assert b's:52:\\"http://a.example.com' in line
    rewritten = mysql_values(dump_rewriter(OLD, NEW, "mysql")(line))
    assert rewritten != stored
    assert unserialize(rewritten) == expected
    # sqlite3: newlines and quotes inside the serialized strings (replace() markers)
    dump = sqlite_dump(tmp_path, [(i, v.decode()) for i, v in enumerate(stored)])
    assert b"char(10)" in dump
    loaded = sqlite_load(tmp_path, dump_rewriter(OLD, NEW, "sqlite")(dump))
    assert unserialize([str(v).encode() for _, v in loaded]) == expected


def _s(text: bytes) -> bytes:
    return b's:%d:"%b";' % (len(text), text)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a count that does not match is no serialized string: replaced as text, count kept
        (b's:99:"http://a.example.com/";', b's:99:"http://clone.example.org/";'),
        # a serialized string inside a serialized string: both counts corrected
        (_s(_s(b"http://a.example.com/")), _s(_s(b"http://clone.example.org/"))),
        # an object's property, and a string holding '";' before the link
        (
            b'O:8:"stdClass":1:{s:1:"u";' + _s(b'";//a.example.com/') + b"}",
            b'O:8:"stdClass":1:{s:1:"u";' + _s(b'";//clone.example.org/') + b"}",
        ),
        # no link: byte for byte
        (b'a:1:{s:1:"a";s:13:"a.example.com";}', b'a:1:{s:1:"a";s:13:"a.example.com";}'),
    ],
)
def test_serialized_values(before: bytes, after: bytes) -> None:
    assert DumpRewriter(OLD, NEW).value(before) == after
    if not before.startswith(b"s:99:"):
        assert unserialize([after]) != ["@@failed@@"]


def test_hexadecimal_blobs_are_decoded_and_written_back_alike() -> None:
    value = serialize(["http://a.example.com/x"])[0]
    want = serialize(["http://clone.example.org/x"])[0]
    line = (
        b"INSERT INTO `c` VALUES (0x"
        + value.hex().upper().encode()
        + b",X'"
        + value.hex().encode()
        + b"');"
    )
    out = dump_rewriter(OLD, NEW, "mysql")(line)
    assert (
        out
        == b"INSERT INTO `c` VALUES (0x"
        + want.hex().upper().encode()
        + b",X'"
        + want.hex().encode()
        + b"');"
    )


MARIADB_DUMP = b"""/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: a.example.com    Database: db
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
DROP TABLE IF EXISTS `node`;
CREATE TABLE `node` (
  `nid` int(11) NOT NULL,
  `body` longtext DEFAULT 'http://a.example.com/',
  PRIMARY KEY (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
LOCK TABLES `node` WRITE;
INSERT INTO `node` VALUES
(1,'it\\'s http://a.example.com/ \\\\'),
(2,'a\\0b\\Zc\\n\\r\t\x08\\\\\\'\\"%_'),
(3,'s:21:\\"http://a.example.com/\\";');
INSERT INTO `node` VALUES (4,'//a.example.com/'),(5,'x');
UNLOCK TABLES;
COMMIT;
"""
"""mysqldump's output as MariaDB 10.11 writes it: rows of one INSERT on lines of their own."""


def test_a_mariadb_dump_in_any_chunks() -> None:
    lines = MARIADB_DUMP.splitlines(keepends=True)
    whole = dump_rewriter(OLD, NEW, "mysql")(MARIADB_DUMP)
    changed = [
        i
        for i, (a, b) in enumerate(zip(lines, whole.splitlines(keepends=True), strict=True))
        if a != b
    ]
    assert [lines[i][:3] for i in changed] == [b"(1,", b"(3,", b"INS"]
    assert b"(3,'s:25:\\\"http://clone.example.org/\\\";');" in whole
    assert b"-- Host: a.example.com" in whole and b"DEFAULT 'http://a.example.com/'" in whole
    for size in (1, 2, 3, 7):  # the runner cuts the stream at line ends, anywhere
        rewriter = dump_rewriter(OLD, NEW)
        pieces = [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]
        assert b"".join(rewriter(p) for p in pieces) == whole
    assert dump_rewriter("zz.example.com", NEW)(MARIADB_DUMP) == MARIADB_DUMP


@pytest.mark.parametrize(
    "line",
    [
        b"INSERT INTO `t` VALUES (1,'http://a.example.com/",  # a quote never closed
        b"INSERT INTO `t` VALUES (1,'http://a.example.com/'),(2,`x);",
        b"-- INSERT INTO `t` VALUES (1,'http://a.example.com/');",
        b"SELECT 'http://a.example.com/';",
    ],
)
def test_lines_that_are_not_readable_data_pass_unchanged(line: bytes) -> None:
    assert dump_rewriter(OLD, NEW, "mysql")(line + b"\n") == line + b"\n"


def test_an_old_sqlite3_literal_across_lines_is_passed_on_and_followed() -> None:
    dump = (
        b"BEGIN TRANSACTION;\n"
        b"INSERT INTO t VALUES(1,'first line http://a.example.com/\n"
        b"INSERT INTO t VALUES(9,''http://a.example.com/'' still inside\n"
        b"last line');\n"
        b"INSERT INTO t VALUES(2,'http://a.example.com/');\n"
        b"COMMIT;\n"
    )
    lines = dump.splitlines(keepends=True)
    want = (
        b"".join(lines[:4]) + b"INSERT INTO t VALUES(2,'http://clone.example.org/');\n" + lines[5]
    )
    assert dump_rewriter(OLD, NEW)(dump) == want
    one_by_one = dump_rewriter(OLD, NEW, "sqlite")
    assert b"".join(one_by_one(line) for line in lines) == want


def test_names_are_checked() -> None:
    for bad in ("", "a b.example.com", "a/b", "a'b"):
        with pytest.raises(ValueError, match="not a site name"):
            dump_rewriter(bad, NEW)
