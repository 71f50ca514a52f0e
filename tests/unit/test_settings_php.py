"""settings.php is parsed, never run: a table of PHP texts and what must be read from each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.observe.settings_php import (
    DYNAMIC,
    MAX_DEPTH,
    MAX_INPUT,
    DatabaseSettings,
    SettingsInfo,
    parse_settings,
)

ROOT = Path(__file__).resolve().parents[2]
STANDIN = (
    ROOT / "examples/standin-platform/src/web/sites/default/default.settings.php"
).read_text()
PASSWORD = "S3cr3t-pw!"
SALT = "SaltSaltSaltSalt_-9"

INSTALLER_BLOCK = f"""
$databases['default']['default'] = array (
  'database' => 'x',
  'username' => 'y',
  'password' => '{PASSWORD}',
  'prefix' => '',
  'host' => 'localhost',
  'port' => 3306,
  'isolation_level' => 'READ COMMITTED',
  'driver' => 'mysql',
  'namespace' => 'Drupal\\\\mysql\\\\Driver\\\\Database\\\\mysql',
  'autoload' => 'core/modules/mysql/src/Driver/Database/mysql/',
);
$settings['config_sync_directory'] = 'sites/default/files/config_AbC-12/sync';
"""
INSTALLED = (
    STANDIN.replace("$settings['hash_salt'] = '';", f"$settings['hash_salt'] = '{SALT}';")
    + INSTALLER_BLOCK
)

DOCBLOCK = """/**
 * @file
 * Database settings: an example of the array, as in default.settings.php:
 * @code
 * $databases['default']['default'] = [
 *   'database' => 'databasename',
 *   'username' => 'sqlusername',
 *   'password' => 'sqlpassword',
 *   'host' => 'localhost',
 *   'port' => '3306',
 *   'driver' => 'mysql',
 *   'prefix' => '',
 * ];
 * @endcode
 */
"""
BENCH = f"""<?php

{DOCBLOCK}
$databases['default']['default'] = [
  'database' => 'db_s00001',
  'username' => 'u_s00001',
  'password' => '{PASSWORD}',
  'host' => 'localhost',
  'port' => '3306',
  'driver' => 'mysql',
  'prefix' => '',
];

$settings['hash_salt'] = '{SALT}';
$settings['config_sync_directory'] = '../config/sync';
$settings['file_public_path'] = 'sites/s00001.example.org/files';
"""


def db(
    *,
    driver: str | None = "mysql",
    database: str | None = "x",
    host: str | None = "localhost",
    port: int | str | None = 3306,
    username: str | None = "y",
    prefix: str | None = "",
    dynamic: tuple[str, ...] = (),
    conditional: bool = False,
) -> DatabaseSettings:
    return DatabaseSettings(driver, database, host, port, username, prefix, dynamic, conditional)


def info(
    database: DatabaseSettings | None = None,
    *,
    includes: tuple[str, ...] = (),
    hash_salt_set: bool = False,
    config_sync_directory: str | None = None,
    error: str | None = None,
) -> SettingsInfo:
    return SettingsInfo(database, includes, hash_salt_set, config_sync_directory, error)


def unknown(*, host: str | None = None, conditional: bool = False) -> DatabaseSettings:
    """An entry whose contents are not known: dynamic as a whole."""
    return db(
        driver=None,
        database=None,
        host=host,
        port=None,
        username=None,
        prefix=None,
        dynamic=("*",),
        conditional=conditional,
    )


SHORT = (
    "<?php\n$databases['default']['default'] = ['database' => 'x', 'username' => 'y', "
    f"'password' => '{PASSWORD}', 'host' => 'localhost', 'port' => 3306, 'driver' => 'mysql', "
    "'prefix' => ''];\n"
)


def short(**changes: str) -> str:
    """SHORT with `'key' => <php>` replacements."""
    text = SHORT
    for key, php in changes.items():
        start = text.index(f"'{key}' => ") + len(f"'{key}' => ")
        stop = min(text.index(c, start) for c in ",]" if c in text[start:])
        text = text[:start] + php + text[stop:]
    return text


CASES: list[tuple[str, str | bytes, SettingsInfo]] = [
    # -- what the installer writes, and the stand-in's default.settings.php
    (
        "installer var_export block after the docblock examples",
        INSTALLED,
        info(
            db(),
            hash_salt_set=True,
            config_sync_directory="sites/default/files/config_AbC-12/sync",
        ),
    ),
    ("default.settings.php: docblocks and `$databases = [];` only", STANDIN, info()),
    ("short array syntax", SHORT, info(db())),
    (
        "bench harness: docblock example, then the real array",
        BENCH,
        info(
            db(database="db_s00001", username="u_s00001", port="3306"),
            hash_salt_set=True,
            config_sync_directory="../config/sync",
        ),
    ),
    (
        "long array syntax, upper case keywords, trailing commas",
        "<?php $databases = ARRAY('default' => Array('default' => array('database' => 'x',"
        " 'host' => 'localhost', 'port' => 3306, 'driver' => 'mysql', 'username' => 'y',"
        " 'prefix' => '', 'pdo' => array(1 => TRUE, 2 => Null,),),),);",
        info(db()),
    ),
    (
        "$databases['default'] = [...]",
        "<?php $databases['default'] = ['default' => ['driver' => 'pgsql', 'database' => 'd']];",
        info(db(driver="pgsql", database="d", host=None, port=None, username=None, prefix=None)),
    ),
    # -- order: last one wins
    (
        "multiple assignments: the last wins",
        SHORT + "$databases['default']['default'] = ['database' => 'second', 'driver' => 'mysql'];",
        info(db(database="second", host=None, port=None, username=None, prefix=None)),
    ),
    ("`$databases = [];` after a real one", SHORT + "$databases = [];\n", info()),
    ("`$databases = NULL;` after a real one", SHORT + "$databases = NULL;\n", info()),
    (
        "key by key, from nothing",
        "<?php\n$databases['default']['default']['driver'] = 'mysql';\n"
        "$databases['default']['default']['database'] = 'x';\n"
        "$databases['default']['default']['host'] = 'db1';\n"
        "$databases['default']['default']['port'] = '3307';\n",
        info(db(host="db1", port="3307", username=None, prefix=None)),
    ),
    (
        "one key overridden after the whole array",
        SHORT + "$databases['default']['default']['host'] = 'db2.internal';\n",
        info(db(host="db2.internal")),
    ),
    (
        "unset of the entry",
        SHORT + "unset($databases['default']['default']);",
        info(),
    ),
    (
        "unset of one key, several arguments",
        SHORT + "unset($x, $databases['default']['default']['host'], $settings['nope']);",
        info(db(host=None)),
    ),
    (
        "+= keeps existing keys and adds missing ones",
        SHORT + "$databases['default']['default'] += ['host' => 'other', 'collation' => 'c'];",
        info(db()),
    ),
    (
        "+= on nothing is an assignment",
        "<?php $databases['default']['default'] += ['database' => 'x', 'driver' => 'mysql'];",
        info(db(host=None, port=None, username=None, prefix=None)),
    ),
    (
        ".= and ??=",
        SHORT + "$databases['default']['default']['database'] .= '_2';\n"
        "$databases['default']['default']['host'] ??= 'ignored';\n"
        "$databases['default']['default']['collation'] ??= 'utf8mb4_general_ci';\n",
        info(db(database="x_2")),
    ),
    (
        "replicas do not touch the primary",
        SHORT + "$databases['default']['replica'][] = ['host' => 'r1'];\n"
        "$databases['default']['replica'][] = ['host' => 'r2'];\n"
        "$databases['extra']['default'] = ['database' => 'other'];\n",
        info(db()),
    ),
    (
        "variable names are case-sensitive",
        SHORT + "$Databases = []; $DATABASES['default']['default']['host'] = 'no';",
        info(db()),
    ),
    # -- values
    (
        "concatenation of literals",
        short(database="'site_' . 'one' . 2", prefix="('p' . \"_\")"),
        info(db(database="site_one2", prefix="p_")),
    ),
    (
        "escapes in double-quoted strings",
        short(database=r'"db\x41\u{263A}\t\$x\101"', host=r"'it\'s \\ \n'"),
        info(db(database="dbA\u263a\t$xA", host="it's \\ \\n")),
    ),
    (
        "numbers: hex, separators, octal, binary, negative",
        "<?php $databases['default']['default'] = ['port' => 0xCEA, 'database' => 1_000,"
        " 'host' => 0o17, 'username' => 0b11, 'prefix' => -5, 'driver' => 010];",
        info(db(port=3306, database="1000", host="15", username="3", prefix="-5", driver="8")),
    ),
    ("port as a string", short(port="'3306'"), info(db(port="3306"))),
    ("port as an int", short(port="3306"), info(db(port=3306))),
    ("port of a float is not a port", short(port="3306.0"), info(db(port=None))),
    (
        "getenv() is dynamic",
        short(host="getenv('DB_HOST')", port="(int) getenv('DB_PORT')"),
        info(db(host=None, port=None, dynamic=("host", "port"))),
    ),
    (
        "dynamic: ?:, ??, constants, __DIR__, variables, interpolation, arithmetic",
        short(
            host="getenv('H') ?: 'localhost'",
            database="$_ENV['DB'] ?? 'x'",
            driver="DRIVER",
            username='"u_$site"',
            prefix="__DIR__ . '/x'",
            port="3300 + 6",
        ),
        info(
            db(
                database=None,
                username=None,
                host=None,
                port=None,
                driver=None,
                prefix=None,
                dynamic=("database", "username", "host", "port", "driver", "prefix"),
            )
        ),
    ),
    (
        "the password's dynamic-ness is reported, never its value",
        short(password="file_get_contents('/etc/secret')"),
        info(db(dynamic=("password",))),
    ),
    (
        "a whole entry from a function",
        "<?php $databases['default']['default'] = my_db_settings();",
        info(unknown()),
    ),
    (
        "a key set on top of a dynamic entry",
        "<?php $databases = load();\n$databases['default']['default']['host'] = 'h';",
        info(
            db(
                driver=None,
                database=None,
                host="h",
                port=None,
                username=None,
                prefix=None,
                dynamic=("*",),
            )
        ),
    ),
    (
        "constant keys make an option array dynamic",
        short(prefix="'', 'pdo' => [PDO::ATTR_TIMEOUT => 5]"),
        info(db(dynamic=("pdo",))),
    ),
    (
        "unmodelled writes make what they touch dynamic",
        SHORT + "$databases['default']['default']['port']++;\n"
        "$h = &$databases['default']['default']['host'];\n",
        info(db(port=None, host=None, dynamic=("host", "port"))),
    ),
    (
        "destructuring into $databases",
        SHORT + "[$databases['default']['default']['host']] = ['h'];\n"
        "list('p' => $databases['default']['default']['port']) = $a;\n",
        info(db(host=None, port=None, dynamic=("host", "port"))),
    ),
    (
        "a computed key hides the entry, until it is set again",
        SHORT + "$databases['default'][$target] = [];",
        info(unknown()),
    ),
    (
        "... and set again",
        SHORT + "$databases['default'][$target] = [];\n" + SHORT[6:],
        info(db()),
    ),
    (
        "$GLOBALS['databases'] is $databases",
        SHORT + "$GLOBALS['databases']['default']['default']['host'] = 'x';",
        info(db(host=None, dynamic=("host",))),
    ),
    (
        "foreach ... as $databases",
        SHORT + "foreach ($all as $databases) {}",
        info(unknown(conditional=True)),
    ),
    # -- conditions and blocks
    (
        "if/else: both apply in order, the value is conditional",
        "<?php\nif (getenv('LANDO')) {\n"
        "  $databases['default']['default'] = ['database' => 'lando', 'driver' => 'mysql'];\n"
        "}\nelse {\n"
        "  $databases['default']['default'] = ['database' => 'x', 'driver' => 'mysql'];\n}\n",
        info(db(host=None, port=None, username=None, prefix=None, conditional=True)),
    ),
    (
        "one key set conditionally",
        SHORT + "if (PHP_SAPI === 'cli') $databases['default']['default']['host'] = '127.0.0.1';",
        info(db(host="127.0.0.1", conditional=True)),
    ),
    (
        "elseif / else if chains",
        SHORT + "if ($a) { $x = 1; } elseif ($b) { $y = 2; } else if ($c) {"
        " $databases['default']['default']['port'] = 1; } else { $z = 3; }",
        info(db(port=1, conditional=True)),
    ),
    (
        "an unconditional assignment after a conditional one",
        "<?php if ($x) { $databases['default']['default']['host'] = 'h'; }\n" + SHORT[6:],
        info(db()),
    ),
    (
        "alternative syntax",
        SHORT + "if ($x):\n  $databases['default']['default']['host'] = 'alt';\nelse:\n"
        "  $y = 1;\nendif;\nforeach ($a as $b):\nendforeach;\n",
        info(db(host="alt", conditional=True)),
    ),
    (
        "switch, loops, try/catch",
        SHORT + "switch ($env) { case 'prod': $databases['default']['default']['host'] = 'p';"
        " break; default: $databases['default']['default']['host'] = 'd'; }\n"
        "try { $databases['default']['default']['port'] = 1; } catch (\\Exception $e) {}\n",
        info(db(host="d", port=1, conditional=True)),
    ),
    (
        "a bare block and try are not conditional",
        SHORT + "{ $databases['default']['default']['port'] = 2; }"
        " try { $databases['default']['default']['host'] = 't'; } finally { }",
        info(db(port=2, host="t")),
    ),
    (
        "function, closure and class bodies do not run",
        SHORT + "function f() { $databases = []; }\n"
        "$f = function () use ($x) { $databases['default']['default']['host'] = 'no'; };\n"
        "#[Attr('$databases')]\nfinal class C { public function m() { $databases = []; } }\n"
        "enum E: string { case A = 'a'; }\n",
        info(db()),
    ),
    (
        "return at top level ends the file",
        SHORT + "return;\n$databases = [];",
        info(db()),
    ),
    (
        "a conditional return makes the rest conditional",
        SHORT + "if ($x) { return; }\n$databases['default']['default']['host'] = 'later';",
        info(db(host="later", conditional=True)),
    ),
    # -- includes
    (
        "includes are recorded: Drupal's settings.local.php pattern and literals",
        SHORT + "if (file_exists($app_root . '/' . $site_path . '/settings.local.php')) {\n"
        "  include $app_root . '/' . $site_path . '/settings.local.php';\n}\n"
        "require_once 'sites/default/settings.shared.php';\nINCLUDE('a.php');\n"
        "$x = include_once __DIR__ . '/b.php';\n"
        "// include 'commented.php';\nfunction f() { require 'in-function.php'; }\n"
        "$f = function () { include 'closure.php'; };\n"
        "$x = [Foo::class, include 'after-class-constant.php'];\n"
        "include (include 'inner.php');\n",
        info(
            db(),
            includes=(
                DYNAMIC,
                "sites/default/settings.shared.php",
                "a.php",
                DYNAMIC,
                "after-class-constant.php",
                DYNAMIC,
                DYNAMIC,
            ),
        ),
    ),
    # -- sqlite
    (
        "sqlite, relative path",
        "<?php $databases['default']['default'] = ['driver' => 'sqlite',"
        " 'database' => 'sites/x/files/.ht.sqlite'];",
        info(
            db(
                driver="sqlite",
                database="sites/x/files/.ht.sqlite",
                host=None,
                port=None,
                username=None,
                prefix=None,
            )
        ),
    ),
    (
        "sqlite, absolute path, installer style",
        "<?php\n$databases['default']['default'] = array (\n"
        "  'database' => '/var/db/site.sqlite',\n"
        "  'prefix' => '',\n"
        "  'driver' => 'sqlite',\n"
        "  'namespace' => 'Drupal\\\\sqlite\\\\Driver\\\\Database\\\\sqlite',\n"
        "  'autoload' => 'core/modules/sqlite/src/Driver/Database/sqlite/',\n"
        ");\n",
        info(
            db(driver="sqlite", database="/var/db/site.sqlite", host=None, port=None, username=None)
        ),
    ),
    # -- comments and strings
    (
        "comments in every style mention $databases",
        SHORT + "// $databases = [];\n# $databases = [];\n/* $databases = []; */\n"
        "/** $databases = []; */\n#[Attribute] function g() {}\n"
        "# unset($databases['default']);\n",
        info(db()),
    ),
    (
        "strings holding // and /* and ?>",
        short(host="'http://h/*x*/?>y'", database='"a // b # c"', prefix="'<?php ?>'"),
        info(db(host="http://h/*x*/?>y", database="a // b # c", prefix="<?php ?>")),
    ),
    (
        "`?>` ends a // comment: what follows is HTML",
        SHORT + "// end ?> $databases['default']['default'] = ['database' => 'html'];",
        info(db()),
    ),
    (
        "heredoc, nowdoc, flexible indentation",
        SHORT + "$databases['default']['default']['database'] = <<<EOT\n  here\"db\n  EOT;\n"
        "$databases['default']['default']['host'] = <<<'EOT'\n$not_a_var\nEOT;\n"
        "$databases['default']['default']['username'] = <<<\"EOT\"\n{$dyn}\nEOT;\n",
        info(db(database='here"db', host="$not_a_var", username=None, dynamic=("username",))),
    ),
    (
        "inline HTML before <?php",
        "<html> $databases['default']['default'] = ['database' => 'html'];\n" + SHORT,
        info(db()),
    ),
    (
        "?> then HTML, then PHP again",
        SHORT + "?>\n<p>$databases = [];</p>\n<?php $databases['default']['default']['port'] = 5;",
        info(db(port=5)),
    ),
    ("no <?php at all", "$databases['default']['default'] = ['database' => 'x'];", info()),
    (
        "<?= is an echo",
        SHORT + "?><?= $databases['default']['default']['host'] ?>",
        info(db()),
    ),
    (
        "__halt_compiler: the rest is data",
        SHORT + "__halt_compiler(); $databases = []; ' \" unterminated <<<EOT\n",
        info(db()),
    ),
    (
        "an unterminated comment runs to the end (PHP warns)",
        SHORT + "/* $databases = [];",
        info(db()),
    ),
    # -- hash salt and config sync
    (
        "hash salt from a file counts as set; config sync computed",
        "<?php $settings['hash_salt'] = file_get_contents('/home/example/salt.txt');\n"
        "$settings['config_sync_directory'] = $app_root . '/../config/sync';",
        info(hash_salt_set=True, config_sync_directory=DYNAMIC),
    ),
    (
        "empty and '0' hash salts are not set",
        "<?php $settings['hash_salt'] = 'x'; $settings['hash_salt'] = '0';",
        info(),
    ),
    (
        "$settings = [...] replaces all settings",
        f"<?php $settings['hash_salt'] = '{SALT}'; $settings = ['config_sync_directory' => 'c'];",
        info(config_sync_directory="c"),
    ),
    # -- hostile input
    (
        "$(rm -rf /) inside strings is just text",
        short(database="'$(rm -rf /)'", host='"$(rm -rf /)"', username="'`id`'"),
        info(db(database="$(rm -rf /)", host="$(rm -rf /)", username="`id`")),
    ),
    (
        "a backtick command is dynamic, never run",
        short(host="`hostname`"),
        info(db(host=None, dynamic=("host",))),
    ),
    (
        "invalid UTF-8 is replaced",
        b"<?php $databases['default']['default'] = ['database' => 'a\xff\xfeb'];",
        info(
            db(
                database="a\ufffd\ufffdb",
                driver=None,
                host=None,
                port=None,
                username=None,
                prefix=None,
            )
        ),
    ),
    (
        "unterminated single-quoted string",
        SHORT + "$x = 'abc",
        info(error="unterminated string at line 3"),
    ),
    (
        "unterminated double-quoted string",
        '<?php\n$x = "abc',
        info(error="unterminated string at line 2"),
    ),
    (
        "unterminated heredoc",
        SHORT + "$x = <<<EOT\nabc\n",
        info(error="unterminated heredoc at line 3"),
    ),
    ("a NUL byte in code", b"<?php \x00", info(error="unexpected character U+0000 at line 1")),
    ("unbalanced brackets", SHORT + "$x = [1, 2);", info(error="unbalanced ')' at line 3")),
    ("unclosed bracket", SHORT + "if ($x) {", info(error="unclosed '{'")),
    ("invalid octal", SHORT + "$x = 08;", info(error="invalid numeric literal at line 3")),
    (
        f"nesting of {MAX_DEPTH} is fine",
        "<?php $databases['default']['default'] = ['database' => 'x', 'n' => "
        + "[" * (MAX_DEPTH - 1)
        + "]" * (MAX_DEPTH - 1)
        + "];",
        info(db(driver=None, host=None, port=None, username=None, prefix=None)),
    ),
    (
        f"nesting deeper than {MAX_DEPTH}",
        "<?php $x = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + ";",
        info(error=f"nesting deeper than {MAX_DEPTH} at line 1"),
    ),
    (
        f"{MAX_DEPTH - 1} nested if blocks (and a [ inside: {MAX_DEPTH} brackets) are fine",
        SHORT
        + "if (1) {" * (MAX_DEPTH - 1)
        + "$databases['default']['default']['port'] = 1;"
        + "}" * (MAX_DEPTH - 1),
        info(db(port=1, conditional=True)),
    ),
    (
        "if statements without braces nested too deep",
        SHORT + "if (1) " * 200 + "$x = 1;",
        info(error=f"blocks nested deeper than {MAX_DEPTH}"),
    ),
    (
        "do statements nested too deep",
        SHORT + "do " * 200 + "$x = 1;" + " while (1);" * 200,
        info(error=f"blocks nested deeper than {MAX_DEPTH}"),
    ),
    (
        "alternative-syntax blocks nested too deep",
        "<?php " + "if (1): " * 200 + "endif; " * 200,
        info(error=f"blocks nested deeper than {MAX_DEPTH}"),
    ),
    (
        "subscripts nested too deep",
        "<?php $databases" + "['a']" * 100 + " = 1;",
        info(error=f"subscripts nested deeper than {MAX_DEPTH}"),
    ),
    (
        "too large",
        b"<?php " + b" " * MAX_INPUT,
        info(error=f"input larger than {MAX_INPUT} bytes"),
    ),
    ("empty input", "", info()),
    ("only <?php", "<?php", info()),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_table(text: str | bytes, expected: SettingsInfo) -> None:
    result = parse_settings(text)
    assert result == expected
    if isinstance(text, str):
        assert parse_settings(text.encode()) == expected


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_secrets_never_in_result(text: str | bytes) -> None:
    shown = repr(parse_settings(text)) + str(parse_settings(text))
    assert PASSWORD not in shown
    assert SALT not in shown
    assert "sqlpassword" not in shown


def test_password_used_in_cases() -> None:
    """The secret checks above are not vacuous: the password is in the parsed texts."""
    assert PASSWORD in INSTALLED
    assert PASSWORD in BENCH
    assert PASSWORD in SHORT


# ---- property tests

_FRAGMENTS = [
    "<?php ", "?>", "<?=", "$databases", "$settings", "['default']", "['host']", "[", "]",
    "(", ")", "{", "}", "=", "+=", "??=", ".=", "=>", ",", ";", ".", "'", '"', "`", "'x'",
    '"y$z"', "<<<EOT\n", "\nEOT", "<<<'N'\n", "\nN;", "/*", "*/", "//", "#", "#[", "\n", " ",
    "array(", "if", "else", "elseif", ":", "endif", "foreach", "as", "function", "class",
    "return", "unset(", "include ", "require_once", "getenv('X')", "__DIR__", "0x1F", "1_0",
    "08", "1.5e3", "true", "NULL", "\\", "$", "&", "++", "?", "switch", "case", "default",
    "__halt_compiler", "\x00", "\ufffd", "$(rm -rf /)",
]  # fmt: skip

php_soup = st.lists(st.sampled_from(_FRAGMENTS), max_size=80).map("".join)


@settings(
    max_examples=400,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400), php_soup))
def test_any_input_gives_a_result(text: str | bytes) -> None:
    result = parse_settings(text)
    assert isinstance(result, SettingsInfo)
    assert result.error != "internal parser error"
    if result.error is not None:
        assert result == info(error=result.error)


def _export(value: Any, indent: str = "") -> str:
    """PHP's var_export() of a str/int/bool/None/dict value."""
    if isinstance(value, dict):
        inner = indent + "  "
        lines = ["array ("]
        for k, v in value.items():
            sub = _export(v, inner)
            sep = " \n" + inner if isinstance(v, dict) else " "
            lines.append(f"{inner}{_export(k)} =>{sep}{sub},")
        lines.append(indent + ")")
        return "\n".join(lines)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    parts = ["'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in value.split("\0")]
    return ' . "\\0" . '.join(parts)


_strings = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["'", "\\", "\\'", "?>", "*/", "<?php", "$x", "\0", '"', "\r\n"]
)
_scalars = st.one_of(_strings, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none())
_nested: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: st.dictionaries(
        st.one_of(st.integers(-1000, 1000), _strings.map(lambda s: "k_" + s)), children, max_size=4
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=timedelta(seconds=2))
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "database": _strings,
            "username": _strings,
            "password": _strings,
            "host": _strings,
            "port": st.one_of(st.integers(0, 65535), _strings),
            "prefix": _strings,
            "driver": st.sampled_from(["mysql", "pgsql", "sqlite"]),
        },
    ),
    extra=st.dictionaries(_strings.map(lambda s: "x_" + s), _nested, max_size=3),
    short_syntax=st.booleans(),
)
def test_var_export_round_trip(
    fields: dict[str, Any], extra: dict[str, Any], short_syntax: bool
) -> None:
    exported = _export({**fields, **extra})
    if short_syntax:  # only the outer array: nested ones stay long
        exported = "[" + exported.removeprefix("array (").removesuffix(")") + "]"
    text = STANDIN + f"\n$databases['default']['default'] = {exported};\n"
    result = parse_settings(text)
    assert result.error is None
    assert result.database == DatabaseSettings(
        driver=fields.get("driver"),
        database=fields.get("database"),
        host=fields.get("host"),
        port=fields.get("port"),
        username=fields.get("username"),
        prefix=fields.get("prefix"),
        dynamic=(),
        conditional=False,
    )
