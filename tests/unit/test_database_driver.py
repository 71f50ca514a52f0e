"""The database driver's SQL, argv and parsers, and the secrets module (pure; no server)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.drivers.database import (
    SITE_PRIVILEGES,
    Grant,
    check_database_name,
    check_grant_host,
    check_user_name,
    client_options,
    create_site_database,
    drop_site_database,
    dump_argv,
    grant_drift,
    grant_hosts,
    parse_grants,
    quote_account,
    quote_identifier,
    quote_string,
    show_grants_sql,
)
from reconciler.drivers.mysql import admin_argv
from reconciler.manifests.names import database_name
from reconciler.secrets import (
    PASSWORD_ALPHABET,
    Secret,
    generate_hash_salt,
    generate_password,
)

HOSTILE = [
    "'",
    "\\",
    "\\'",
    "'; DROP DATABASE mysql; --",
    "\\'; DROP USER root; #",
    '"`$(id)`',
    "a\nb\rc\x1ad\te",
    "\u00e9t\u00e9 \U0001f600",
    "' OR '1'='1",
    "%_*",
]

# --- quoting -------------------------------------------------------------------------------


def _read_sql_string(literal: str) -> str:
    """What MariaDB reads from a '...' literal with backslash escapes on (the default)."""
    assert literal[0] == literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    unescape = {"n": "\n", "r": "\r", "Z": "\x1a", "0": "\0", "t": "\t", "b": "\b"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 1
            out.append(unescape.get(body[i], body[i]))
        else:
            assert c != "'", f"an unescaped quote ends the literal early: {literal!r}"
            out.append(c)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("value", ["", "plain", *HOSTILE])
def test_quote_string_round_trips(value: str) -> None:
    literal = quote_string(value)
    assert _read_sql_string(literal) == value
    assert "\n" not in literal and "\r" not in literal


@given(st.text().filter(lambda s: "\0" not in s))
def test_quote_string_never_breaks_out(value: str) -> None:
    assert _read_sql_string(quote_string(value)) == value


def test_quote_string_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_string("a\0b")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("example_com_1a2b3c4d", True),
        ("A" * 64, True),
        ("A" * 65, False),
        ("", False),
        ("a`b", False),
        ("a-b", False),
        ("a.b", False),
        ("a b", False),
        ("db;drop", False),
        ("caf\u00e9", False),
        ("a%", False),
        ("x\n", False),
    ],
)
def test_database_names(name: str, ok: bool) -> None:
    if ok:
        assert check_database_name(name) == name
        assert quote_identifier(name) == f"`{name}`"
    else:
        with pytest.raises(ValueError, match="database name"):
            quote_identifier(name)


@pytest.mark.parametrize(
    ("user", "ok"), [("u", True), ("u" * 32, True), ("u" * 33, False), ("a'b", False), ("", False)]
)
def test_user_names(user: str, ok: bool) -> None:
    if ok:
        assert check_user_name(user) == user
    else:
        with pytest.raises(ValueError, match="user name"):
            quote_account(user, "localhost")


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("10.0.0.5", True),
        ("web1.example.net", True),
        ("fe80::1", True),
        ("%", False),
        ("10.0.0.%", False),
        ("web_1", False),
        ("a'b", False),
        ("a b", False),
        ("", False),
        ("-x", False),
        ("h" * 256, False),
    ],
)
def test_grant_hosts_are_checked(host: str, ok: bool) -> None:
    if ok:
        assert check_grant_host(host) == host
        assert quote_account("u", host) == f"'u'@'{host}'"
    else:
        with pytest.raises(ValueError, match="host"):
            check_grant_host(host)


def test_generated_names_are_accepted() -> None:
    for site in ("example.com", "a" * 63 + ".example.com", "x-y.z"):
        name = database_name(site)
        assert check_database_name(name) == name
        assert check_user_name(name) == name


# --- grant hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "db_server", "web_server", "expected"),
    [
        ("10.0.0.5", "db1", "web1", ["10.0.0.5"]),
        ("web1.example.net", "db1", "web1", ["web1.example.net"]),
        ("10.0.0.5", "box", "box", ["localhost", "127.0.0.1"]),
        ("127.0.0.1", "box", "box", ["localhost", "127.0.0.1"]),
        ("localhost", "db1", "web1", ["localhost", "127.0.0.1"]),
        ("127.0.0.1", "db1", "web1", ["localhost", "127.0.0.1"]),
        ("::1", "db1", "web1", ["localhost", "127.0.0.1", "::1"]),
    ],
)
def test_grant_hosts(address: str, db_server: str, web_server: str, expected: list[str]) -> None:
    assert grant_hosts(address, db_server, web_server) == expected


def test_grant_hosts_refuses_a_wildcard_address() -> None:
    with pytest.raises(ValueError, match="host"):
        grant_hosts("10.0.%", "db1", "web1")


# --- the SQL -------------------------------------------------------------------------------

DB = "example_com_1a2b3c4d"
HOSTS = ["localhost", "127.0.0.1"]


def test_create_sql_text() -> None:
    sql = create_site_database(DB, DB, "Secr3t", HOSTS).decode()
    lines = sql.splitlines()
    assert lines[0].startswith("SET SESSION sql_mode") and "NO_BACKSLASH_ESCAPES" in lines[0]
    assert lines[1] == (
        f"CREATE DATABASE IF NOT EXISTS `{DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
    )
    privileges = ", ".join(SITE_PRIVILEGES)
    for host, block in zip(HOSTS, [lines[2:5], lines[5:8]], strict=True):
        assert block == [
            f"CREATE USER IF NOT EXISTS '{DB}'@'{host}' IDENTIFIED BY 'Secr3t';",
            f"ALTER USER '{DB}'@'{host}' IDENTIFIED BY 'Secr3t';",
            f"GRANT {privileges} ON `example\\_com\\_1a2b3c4d`.* TO '{DB}'@'{host}';",
        ]
    assert len(lines) == 8


def test_create_sql_is_idempotent_by_construction() -> None:
    sql = create_site_database(DB, DB, "pw", HOSTS)
    assert sql == create_site_database(DB, DB, "pw", HOSTS)
    for line in sql.decode().splitlines():
        assert line.startswith(("SET SESSION", "ALTER USER", "GRANT ")) or " IF NOT EXISTS " in line


def test_create_sql_never_grants_globally_or_all() -> None:
    sql = create_site_database(DB, DB, "pw", ["10.0.0.5"]).decode()
    assert "*.*" not in sql
    assert "ALL" not in sql.replace("ALTER", "")
    assert "GRANT OPTION" not in sql
    assert "DROP DATABASE" not in sql


def test_create_sql_without_wildcard_escaping() -> None:
    sql = create_site_database(DB, DB, "pw", ["h1"], escape_wildcards=False).decode()
    assert f" ON `{DB}`.* TO " in sql


def test_duplicate_hosts_once_and_empty_refused() -> None:
    sql = create_site_database("d", "u", "pw", ["h1", "h1"]).decode()
    assert sql.count("CREATE USER") == 1
    with pytest.raises(ValueError, match="at least one host"):
        create_site_database("d", "u", "pw", [])
    with pytest.raises(TypeError):
        create_site_database("d", "u", "pw", "localhost")


@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_password_stays_inside_its_literals(password: str) -> None:
    sql = create_site_database(DB, DB, password, ["localhost"]).decode()
    literal = quote_string(password)
    # every statement is exactly what it would be for a harmless password
    assert sql == create_site_database(DB, DB, "PW", ["localhost"]).decode().replace(
        "'PW'", literal
    )
    assert sql.count(literal) == 2


def test_drop_sql_text() -> None:
    assert drop_site_database(DB, DB, HOSTS).decode().splitlines() == [
        f"DROP DATABASE IF EXISTS `{DB}`;",
        f"DROP USER IF EXISTS '{DB}'@'localhost';",
        f"DROP USER IF EXISTS '{DB}'@'127.0.0.1';",
    ]


@pytest.mark.parametrize("bad", ["x`; DROP DATABASE mysql; --", "a-b", "a" * 65])
def test_bad_names_refused_everywhere(bad: str) -> None:
    for build in (
        lambda: create_site_database(bad, "u", "pw", HOSTS),
        lambda: drop_site_database(bad, "u", HOSTS),
        lambda: dump_argv(bad),
    ):
        with pytest.raises(ValueError, match="is not a database"):
            build()
    with pytest.raises(ValueError, match="is not a database user"):
        create_site_database("d", bad, "pw", HOSTS)


def test_show_grants_sql() -> None:
    assert show_grants_sql("u", HOSTS) == (
        b"SHOW GRANTS FOR 'u'@'localhost';\nSHOW GRANTS FOR 'u'@'127.0.0.1';\n"
    )


# --- argv ----------------------------------------------------------------------------------


def test_admin_argv_reads_sql_from_stdin() -> None:
    argv = admin_argv("/etc/mysql/admin.cnf")
    assert argv[:2] == ["mysql", "--defaults-file=/etc/mysql/admin.cnf"]
    assert "-e" not in argv
    home = admin_argv("~/.my.cnf")
    assert home[:2] == ["sh", "-c"] and '"$HOME/$f"' in home[2]
    assert home[3:5] == ["sh", ".my.cnf"] and "-e" not in home


def test_dump_argv_holds_no_secret() -> None:
    password = generate_password()
    argv = dump_argv(DB)
    assert argv[:2] == ["sh", "-c"] and argv[-1] == DB
    assert not any(password in arg for arg in argv)
    script = argv[2]
    for flag in ("--single-transaction", "--quick", "--no-autocommit", '--defaults-file="$f"'):
        assert flag in script
    assert "umask 077" in script and "rm -f" in script and "password" not in script


@pytest.mark.parametrize("password", HOSTILE)
def test_client_options_quote_values(password: str) -> None:
    text = client_options("u", password, "127.0.0.1", 3306).decode()
    lines = text.splitlines()
    assert lines[0] == "[client]" and lines[1] == 'user="u"' and lines[-1] == "port=3306"
    assert len(lines) == 5  # a newline in the password does not start a new option
    value = lines[2].removeprefix("password=")
    assert value[0] == value[-1] == '"'
    assert re.fullmatch(r'(?:[^"\\]|\\.)*', value[1:-1])
    unescape = {"n": "\n", "r": "\r", "t": "\t"}
    assert re.sub(r"\\(.)", lambda m: unescape.get(m[1], m[1]), value[1:-1]) == password


# --- SHOW GRANTS ---------------------------------------------------------------------------

PRIVS = ", ".join(SITE_PRIVILEGES)
GOOD = (
    "GRANT USAGE ON *.* TO `example_com_1a2b3c4d`@`localhost` IDENTIFIED BY PASSWORD '*AB12'\n"
    f"GRANT {PRIVS} ON `example\\\\_com\\\\_1a2b3c4d`.* TO `example_com_1a2b3c4d`@`localhost`\n"
)


def test_parse_grants_mariadb() -> None:
    grants = parse_grants(GOOD)
    assert grants == [
        Grant(frozenset({"USAGE"}), "*", "*", DB, "localhost"),
        Grant(frozenset(SITE_PRIVILEGES), "example\\_com\\_1a2b3c4d", "*", DB, "localhost"),
    ]
    assert "AB12" not in repr(grants)
    assert grant_drift(grants, DB, DB, "localhost") == []


def test_parse_grants_other_shapes() -> None:
    text = (
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION\n"
        "GRANT SELECT (a, b), INSERT ON `d`.`t` TO `u`@`%`\n"
        "GRANT EXECUTE ON PROCEDURE `d`.`p` TO `u`@`%`\n"
        "GRANT `admins` TO `u`@`%`\n"
    )
    root, cols, proc, role = parse_grants(text)
    assert root.privileges == {"ALL PRIVILEGES"} and root.grant_option and root.user == "root"
    assert cols.privileges == {"SELECT (A, B)", "INSERT"} and (cols.database, cols.table) == (
        "d",
        "t",
    )
    assert proc.routine == "PROCEDURE" and proc.table == "p"
    assert role.role and role.privileges == {"admins"}
    with pytest.raises(ValueError, match="SHOW GRANTS"):
        parse_grants("Grants for u@%\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"GRANT SELECT, INSERT ON `{DB}`.* TO `{DB}`@`h`", "missing on"),
        (f"GRANT USAGE ON *.* TO `{DB}`@`h`", "missing on"),
        (f"GRANT SUPER ON *.* TO `{DB}`@`h`\nGRANT {PRIVS} ON `{DB}`.* TO `{DB}`@`h`", "SUPER"),
        (f"GRANT ALL PRIVILEGES ON `{DB}`.* TO `{DB}`@`h`", "ALL PRIVILEGES"),
        (f"GRANT {PRIVS} ON `{DB}`.* TO `{DB}`@`h` WITH GRANT OPTION", "GRANT OPTION"),
        (
            f"GRANT {PRIVS} ON `{DB}`.* TO `{DB}`@`h`\nGRANT SELECT ON `other`.* TO `{DB}`@`h`",
            "other",
        ),
        (f"GRANT {PRIVS} ON `{DB}`.* TO `{DB}`@`h`\nGRANT `r` TO `{DB}`@`h`", "role r"),
    ],
)
def test_grant_drift(text: str, problem: str) -> None:
    drift = grant_drift(parse_grants(text), DB, DB, "h")
    assert drift and any(problem in p for p in drift)


def test_grant_drift_accepts_unescaped_and_ignores_other_accounts() -> None:
    text = f"GRANT {PRIVS} ON `{DB}`.* TO `{DB}`@`h`\nGRANT SUPER ON *.* TO `x`@`h`"
    assert grant_drift(parse_grants(text), DB, DB, "h") == []


# --- secrets -------------------------------------------------------------------------------


def test_passwords() -> None:
    many = [generate_password() for _ in range(200)]
    assert len(set(many)) == len(many)
    for pw in many:
        assert len(pw) == 40 and set(pw) <= set(string.ascii_letters + string.digits)
    assert set(PASSWORD_ALPHABET) == set(string.ascii_letters + string.digits)
    assert len(generate_password(64)) == 64
    assert len(generate_password(32)) == 32
    with pytest.raises(ValueError, match="32"):
        generate_password(31)
    # every symbol shows up: the alphabet is used, not a slice of it
    assert set("".join(many)) == set(PASSWORD_ALPHABET)


def test_passwords_need_no_escaping() -> None:
    pw = generate_password()
    assert quote_string(pw) == f"'{pw}'"
    assert client_options("u", pw, "h", 1).decode().splitlines()[2] == f'password="{pw}"'


def test_hash_salt() -> None:
    salts = {generate_hash_salt() for _ in range(50)}
    assert len(salts) == 50
    for salt in salts:
        assert re.fullmatch(r"[A-Za-z0-9_-]{74}", salt)


def test_secret_never_prints_its_value(caplog: pytest.LogCaptureFixture) -> None:
    value = generate_password()
    s = Secret(value)
    assert s.reveal() == value
    shown = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>10}", "%s" % s, "%r" % (s,), "{}".format(s)]  # noqa: UP031, UP032
    shown += [str([s]), str({"password": s}), repr((s,))]
    assert all(value not in text for text in shown)
    assert str(s) == "***"
    logger = logging.getLogger("test.secret")
    with caplog.at_level(logging.DEBUG, logger="test.secret"):
        logger.info("password %s", s)
        logger.info("password %r", s)
        logger.info("args %s", {"password": s})
    assert "***" in caplog.text and value not in caplog.text


def test_secret_does_not_leak_by_accident() -> None:
    s = Secret("hunter2hunter2")
    with pytest.raises(TypeError):
        "x" + s  # type: ignore[operator]
    with pytest.raises(TypeError):
        "".join([s])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        json.dumps(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(AttributeError):
        s._value = "x"
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
    assert s == Secret("hunter2hunter2") and s != Secret("other") and s != "hunter2hunter2"
    assert len(s) == 14 and bool(s) and not Secret("")
    assert hash(s) == hash(Secret("hunter2hunter2"))
