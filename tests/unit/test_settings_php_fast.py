"""The fast path of settings.php parsing: it must agree with the full parser on every input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.observe.settings_php import (
    MAX_INPUT,
    SettingsInfo,
    _fast_parse,
    _slow_parse,
    parse_settings,
)
from unit.test_settings_php import BENCH, CASES, DOCBLOCK, INSTALLER_BLOCK, PASSWORD, STANDIN

ROOT = Path(__file__).resolve().parents[2]

# ---- the typical files: what the observer reads thousands of times per run


def _prose(topic: str, n: int) -> str:
    """A docblock of *n* paragraphs about *topic*: stands for core's long explanations."""
    para = (
        f" * The {topic} setting is read while Drupal boots. Change it only when you\n"
        " * know why the default does not suit this site. See https://www.drupal.org/docs\n"
        " * for more, and the change records linked from there.\n"
        " *\n"
    )
    return f"/**\n * {topic.capitalize()}:\n *\n" + para * n + " */\n"


def _commented(code: str) -> str:
    return "".join(f"# {line}\n" for line in code.splitlines())


DRUPAL10 = (
    "<?php\n\n// phpcs:ignoreFile\n\n"
    + DOCBLOCK
    + _prose("database", 12)
    + "$databases = [];\n\n"
    + _prose("location of the config sync directory", 4)
    + "# $settings['config_sync_directory'] = '/directory/outside/webroot';\n\n"
    + _prose("salt for one-time login links, cancel links, form tokens", 6)
    + "$settings['hash_salt'] = '';\n\n"
    + _prose("update.php access", 3)
    + "$settings['update_free_access'] = FALSE;\n\n"
    + _prose("fallback to HTTP for update manager", 2)
    + "# $settings['update_fetch_with_http_fallback'] = TRUE;\n\n"
    + _prose("external access proxy", 5)
    + _commented(
        "$settings['http_client_config']['proxy']['http'] = 'http://proxy_user:pw@example.com';"
        "\n$settings['http_client_config']['proxy']['no'] = ['127.0.0.1', 'localhost'];"
    )
    + "\n"
    + _prose("reverse proxy", 8)
    + "# $settings['reverse_proxy'] = TRUE;\n# $settings['reverse_proxy_addresses'] = ['a.b'];\n\n"
    + _prose("page caching", 4)
    + "# $settings['omit_vary_cookie'] = TRUE;\n\n"
    + _prose("class loader", 3)
    + "# $settings['class_loader_auto_detect'] = FALSE;\n\n"
    + _prose("authorized file system operations", 4)
    + "# $settings['allow_authorize_operations'] = FALSE;\n\n"
    + _prose("default mode for directories and files", 3)
    + "# $settings['file_chmod_directory'] = 0775;\n# $settings['file_chmod_file'] = 0664;\n\n"
    + _prose("public and private file paths", 6)
    + "# $settings['file_public_base_url'] = 'http://downloads.example.com/files';\n"
    + "# $settings['file_public_path'] = 'sites/default/files';\n"
    + "# $settings['file_private_path'] = '';\n\n"
    + _prose("temporary file path", 3)
    + "# $settings['file_temp_path'] = '/tmp';\n\n"
    + _prose("session write interval", 2)
    + "# $settings['session_write_interval'] = 180;\n\n"
    + _prose("string overrides", 3)
    + _commented("$settings['locale_custom_strings_en'][''] = [\n  'Home' => 'Front page',\n];")
    + "\n"
    + _prose("maintenance theme", 2)
    + "# $settings['maintenance_theme'] = 'claro';\n\n"
    + _prose("PHP settings", 5)
    + "# ini_set('pcre.backtrack_limit', 200000);\n\n"
    + _prose("site configuration overrides", 5)
    + "# $config['system.site']['name'] = 'My Drupal site';\n"
    + "# $config['user.settings']['anonymous'] = 'Visitor';\n\n"
    + _prose("fast 404 pages", 4)
    + "# $config['system.performance']['fast_404']['exclude_paths'] = '/\\/(?:styles)|"
    "(?:system\\/files)\\//';\n\n"
    + _prose("load services definition file", 2)
    + "$settings['container_yamls'][] = $app_root . '/' . $site_path . '/services.yml';\n\n"
    + _prose("override the default service container class", 2)
    + "# $settings['container_base_class'] = '\\Drupal\\Core\\DependencyInjection\\Container';\n\n"
    + _prose("trusted host configuration", 10)
    + "# $settings['trusted_host_patterns'] = ['^www\\.example\\.com$'];\n\n"
    + _prose("the default list of directories that will be ignored by file API", 3)
    + "$settings['file_scan_ignore_directories'] = [\n  'node_modules',\n"
    + "  'bower_components',\n];\n\n"
    + _prose("the default number of entities to update in a batch process", 3)
    + "$settings['entity_update_batch_size'] = 50;\n\n"
    + _prose("entity update backup", 3)
    + "$settings['entity_update_backup'] = TRUE;\n\n"
    + _prose("state caching", 3)
    + "$settings['state_cache'] = TRUE;\n\n"
    + _prose("node migration type", 3)
    + "$settings['migrate_node_migrate_type_classic'] = FALSE;\n\n"
    + _prose("permissions hardening", 3)
    + "# $settings['skip_permissions_hardening'] = TRUE;\n\n"
    + _prose("rebuild access", 2)
    + "$settings['rebuild_access'] = FALSE;\n\n"
    + _prose("load local development override configuration, if available", 4)
    + _commented(
        "if (file_exists($app_root . '/' . $site_path . '/settings.local.php')) {\n"
        "  include $app_root . '/' . $site_path . '/settings.local.php';\n}"
    )
)

INSTALLED_STANDIN = STANDIN + INSTALLER_BLOCK.replace("'localhost'", "'127.0.0.1'").replace(
    "config_AbC-12", "config_abc"
).replace("sites/default/", "sites/x/")

TYPICAL: dict[str, str] = {
    "bench harness": BENCH,
    "stand-in default.settings.php + installer block": INSTALLED_STANDIN,
    "Drupal 10 default.settings.php shape": DRUPAL10,
}


def test_typical_files_are_typical() -> None:
    """The stand-ins for real files have the shape and size of what they stand for."""
    assert 25_000 < len(DRUPAL10) < 40_000
    assert PASSWORD in BENCH and PASSWORD in INSTALLED_STANDIN


@pytest.mark.parametrize("text", TYPICAL.values(), ids=TYPICAL.keys())
def test_typical_files_take_the_fast_path(text: str) -> None:
    fast = _fast_parse(text)
    assert fast is not None
    assert fast == _slow_parse(text) == parse_settings(text) == parse_settings(text.encode())
    assert fast.error is None
    assert PASSWORD not in repr(fast)


def test_typical_results() -> None:
    bench = parse_settings(BENCH)
    assert bench.database is not None and bench.database.database == "db_s00001"
    assert bench.hash_salt_set and bench.config_sync_directory == "../config/sync"
    standin = parse_settings(INSTALLED_STANDIN)
    assert standin.database is not None and standin.database.host == "127.0.0.1"
    assert standin.database.port == 3306
    assert standin.config_sync_directory == "sites/x/files/config_abc/sync"
    assert parse_settings(DRUPAL10) == SettingsInfo(None, (), False, None, None)


# ---- every case of the table test: the same result either way


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_table_cases_agree(text: str | bytes) -> None:
    assert parse_settings(text) == _slow_parse(text)
    as_text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    if len(as_text) <= MAX_INPUT:
        fast = _fast_parse(as_text)
        assert fast is None or fast == _slow_parse(as_text)


def test_table_cases_exercise_the_fast_path() -> None:
    """Not vacuous: several of the table's texts are of the fast path's shapes."""
    taken = [name for name, text, _ in CASES if isinstance(text, str) and _fast_parse(text)]
    assert len(taken) >= 8, taken


# ---- generated files: a grammar of the fast path's shapes, hostile values and stray constructs
#
# hostile=False: only the fast path's shapes (with any string contents): always taken.
# hostile=True: each choice is, now and then, something else: the fast path must decline it or
# agree with the full parser.

EXAMPLES = int(os.environ.get("SETTINGS_FAST_EXAMPLES", "200"))

_HOSTILE_CHARS = "'\"\\$?>/*#{}[]();,.=\n\r\t \x00aZ09_-é"
_hostile_text = st.text(alphabet=_HOSTILE_CHARS, max_size=10) | st.sampled_from(
    ["?>", "*/", "/*", "//", "#", "$x", "{$x}", "\\", "\\'", "'", '"', "\0", "\r\n", "<?php", ""]
)


def _pick(draw: st.DrawFn, hostile: bool, normal: list[str], odd: list[str]) -> str:
    """One of *normal*, or (hostile, one time in 25) one of *odd*."""
    if hostile and odd and draw(st.integers(0, 24)) == 0:
        return draw(st.sampled_from(odd))
    return draw(st.sampled_from(normal))


def _without(s: str, *subs: str) -> str:
    while any(sub in s for sub in subs):  # removing one can make another: "**//", "*?>/"
        for sub in subs:
            s = s.replace(sub, "")
    return s


def _sq(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def _gap(draw: st.DrawFn, hostile: bool) -> str:
    """Whitespace and comments (in hostile mode also what PHP does not take as either)."""
    parts = []
    for _ in range(draw(st.integers(0, 2))):
        body = draw(st.text(alphabet="ab $[]'\"=;/*?>#\\", max_size=8))
        body = _without(body, "*/") if hostile else _without(body, "*/", "?>")
        nl = _pick(draw, hostile, ["\n", "\r\n"], ["\r"])
        parts.append(
            _pick(
                draw,
                hostile,
                [" ", "\n", "\t", "\r\n", "\n\n  ", f"//{body}{nl}", f"#{body.lstrip('[')}{nl}",
                 f"/*{body}*/", f"/**\n * $databases = [];{body}\n */"],
                ["\v", "\f", "\xa0", "\u2028", "// x ?> y\n", "/* unclosed", "#[Attr] ", "#[\n"],
            )
        )  # fmt: skip
    return "".join(parts)


@st.composite
def _scalar(draw: st.DrawFn, hostile: bool) -> str:
    kind = _pick(
        draw,
        hostile,
        ["sq", "sq", "sq", "dq", "int", "word"],
        ["08", "0x1F", "0b11", "0o17", "1_000", "1.5", "-1.0e3", "12345678901234567890",
         "- 5", "--5", "+5", "truex", "\\true", "TRUE()", "PHP_EOL", "'", '"unterminated',
         '"a$b"', '"a\\tb"', '"{$x}"', "<<<EOT\nx\nEOT\n", "<<<'N'\nx\nN", "`id`", ".5", "1e3"],
    )  # fmt: skip
    if kind == "sq":
        return _sq(draw(_hostile_text))
    if kind == "dq":
        return '"' + draw(st.text(alphabet="ab_{}/ .'#*?>\0", max_size=8)) + '"'
    if kind == "int":
        return str(draw(st.integers(-(10**18) + 1, 10**18 - 1) | st.integers(-5, 5)))
    if kind == "word":
        w = draw(st.sampled_from(["true", "false", "null"]))
        return "".join(c.upper() if draw(st.booleans()) else c for c in w)
    return kind


@st.composite
def _array(draw: st.DrawFn, hostile: bool, depth: int) -> str:
    g = _gap(hostile)
    elems = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(_scalar(hostile)) + draw(g) + "=>" + draw(g) if draw(st.booleans()) else ""
        if depth > 0 and draw(st.integers(0, 2)) == 0:
            value = draw(_array(hostile, depth - 1))
        else:
            value = draw(_scalar(hostile))
        elems.append(key + value)
    sep = draw(g) + "," + draw(g)
    body = (
        draw(g) + sep.join(elems) + (sep if bool(elems) and draw(st.booleans()) else "") + draw(g)
    )
    body = _pick(draw, hostile, [body], ["'a' 'b'", ",", "'a',,'b'", "...$x", "&$x", "1 => &$y"])
    if draw(st.booleans()):
        return "[" + body + "]"
    return draw(st.sampled_from(["array", "ARRAY", "Array"])) + draw(g) + "(" + body + ")"


@st.composite
def _value(draw: st.DrawFn, hostile: bool) -> str:
    kind = draw(st.sampled_from(["scalar", "array", "array", "concat"]))
    if kind == "scalar":
        return draw(_scalar(hostile))
    if kind == "array":
        return draw(_array(hostile, draw(st.integers(0, 2)) + (hostile and draw(st.booleans()))))
    dot = draw(_gap(hostile)) + "." + draw(_gap(hostile))
    terms = [
        _pick(
            draw,
            hostile,
            ["$app_root", "$site_path", "__DIR__", "'/x'", '"y"', "'a\\'b'", "'sites/'"],
            ["$other", "getenv('X')", "$settings['x']", "5", "PHP_OS", "__dir__", "$app_root[0]"],
        )
        for _ in range(draw(st.integers(1, 4)))
    ]
    return dot.join(terms)


_KEYS = [
    "'default'", "'default'", "'hash_salt'", "'config_sync_directory'", "'host'", "'port'",
    "'database'", "'password'", '"default"', '"hash_salt"', "'1'", "'01'", "'-1'", "1", "0",
    "-3", "true", "NULL", "", "",
]  # fmt: skip
_STRAY = [
    "if ($x) { $databases = []; }", "include 'x.php';", "$settings['x']++;",
    "unset($databases['default']['default']);", "$$name = 1;", "extract($a);",
    "function f() { $databases = []; }", "return;", "?>\n<p>", "__halt_compiler();",
    "$GLOBALS['databases'] = [];", "$settings['hash_salt'] .= 'x';",
    "$databases['default']['default'] += ['host' => 'h'];", ";", "$a = &$databases;",
    "list($databases) = [1];", "$settings = 'scalar';", "$databases = 5;", "$settings = NULL;",
    "<?php", "$x = [1, 2);", "$databases['default'][$k] = 1;", "$settings['hash_salt'] = 0;",
    "$databases['default'] = 'x';", "$settings['config_sync_directory'] = ['a'];",
]  # fmt: skip


@st.composite
def _statement(draw: st.DrawFn, hostile: bool) -> str:
    g = _gap(hostile)
    if hostile and draw(st.integers(0, 14)) == 0:
        return draw(st.sampled_from(_STRAY))
    var = _pick(draw, hostile, _VARS, ["GLOBALS", "app_root", "é", "this", "_"])
    keys = draw(st.lists(st.sampled_from(_KEYS) | _scalar(hostile), max_size=4))
    if var == "databases" and draw(st.booleans()):  # the entry, or one of its fields
        keys = ["'default'", "'default'", *keys[:1]]
    path = "".join(draw(g) + "[" + draw(g) + k + draw(g) + "]" for k in keys)
    op = _pick(draw, hostile, ["="], ["+=", ".=", "??=", "==", "=&", "= &", "=>"])
    end = _pick(draw, hostile, [";"], ["", ",", "?>"])
    return f"${var}{path}{draw(g)}{op}{draw(g)}{draw(_value(hostile))}{draw(g)}{end}"


_VARS = ["databases", "databases", "settings", "settings", "config", "x", "Databases"]


@st.composite
def _settings_file(draw: st.DrawFn, hostile: bool) -> str:
    parts = [
        _pick(
            draw,
            hostile,
            ["<?php\n", "<?php ", "<?php\t", "<?php\r\n"],
            ["<?PHP\n", "<?php\r", "<?php", "x<?php\n", "\ufeff<?php\n", "<?=", ""],
        )
    ]
    for _ in range(draw(st.integers(0, 6))):
        parts.append(draw(_gap(hostile)))
        parts.append(draw(_statement(hostile)))
    parts.append(draw(_gap(hostile)))
    return "".join(parts)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(_settings_file(hostile=True))
def test_generated_files_agree(text: str) -> None:
    fast = _fast_parse(text)
    event("fast path" if fast is not None else "full parser")
    slow = _slow_parse(text)
    assert parse_settings(text) == slow
    assert fast is None or fast == slow
    raw = text.encode("utf-8", errors="surrogatepass")
    assert parse_settings(raw) == _slow_parse(raw)


def test_generated_files_exercise_both_paths() -> None:
    """The hostile grammar reaches both parsers (counted over its own 200 examples)."""
    runs = {"fast": 0, "all": 0}

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(_settings_file(hostile=True))
    def count(text: str) -> None:
        runs["all"] += 1
        runs["fast"] += _fast_parse(text) is not None

    count()
    assert runs["all"] >= 100
    assert 0.1 < runs["fast"] / runs["all"] < 0.9, runs


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(_settings_file(hostile=False))
def test_generated_clean_files_take_the_fast_path(text: str) -> None:
    fast = _fast_parse(text)
    event(f"database set: {fast is not None and fast.database is not None}")
    event(f"hash salt set: {fast is not None and fast.hash_salt_set}")
    assert fast is not None
    assert fast == _slow_parse(text) == parse_settings(text)


# ---- bounds


@pytest.mark.parametrize(
    "text",
    [
        "<?php " + "/*" * 1_000_000,
        "<?php $x = " + "[" * 1_000_000,
        "<?php $databases = [" + "'a' => " * 250_000,
        "<?php " + "// ?" * 500_000,
        "<?php $x = " + "'a' . " * 300_000 + ";",
        "<?php $x = [" + "[1, " * 100_000,
        "<?php " + "$a['x'] = 1;" * 150_000,
        "<?php $x = " + "'\\" * 1_000_000,
        "<?php $databases" + "['default']" * 100_000 + " = 1;",
        "<?php /*" + " * x\n" * 400_000,
    ],
    ids=lambda t: repr(t[:24]),
)
def test_hostile_input_is_bounded(text: str) -> None:
    assert len(text) <= MAX_INPUT
    start = time.process_time()
    fast = _fast_parse(text)
    result = parse_settings(text)
    assert time.process_time() - start < 1.0
    assert fast is None or fast == result
    assert isinstance(result, SettingsInfo)


def test_fast_path_only_for_what_the_token_limit_allows() -> None:
    text = "<?php " + "$a=1;" * 70_000  # 280,000 tokens: the full parser refuses it
    assert _fast_parse(text) is None
    assert parse_settings(text).error == _slow_parse(text).error is not None
