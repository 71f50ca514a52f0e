"""The drush driver: argument lists per command, parsers fed drush 12/13's real output shapes
(drupal-drush-contract.md, including §7's bytes from real Drupal 10.3.7 + drush 13.3.0), and
redaction of secrets from captured output."""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.drivers.drush import STATUS_FIELDS, Drush
from reconciler.drivers.drush_output import (
    REDACTED,
    DrushOutputError,
    Extension,
    LogLine,
    PendingUpdate,
    find_json,
    parse_log,
    parse_login_url,
    parse_maint_status,
    parse_pm_list,
    parse_sql_dump,
    parse_sql_query,
    parse_status,
    parse_updatedb_status,
    redact,
)
from reconciler.transport import quote_argv

D = "/var/aegir/platforms/p1/vendor/bin/drush"
URI = "--uri=http://a.example.com"
DRUSH = Drush("/var/aegir/platforms/p1", "a.example.com")
PASSWORD = "s3cr3t-P4ss/with'quote\"and$(id)"

# ------------------------------------------------------------------------------------- argv


ARGV_TABLE: list[tuple[str, list[str], list[str]]] = [
    (
        "status",
        DRUSH.status(),
        [D, "core:status", "--format=json", "--fields=" + ",".join(STATUS_FIELDS), URI],
    ),
    (
        "status fields",
        DRUSH.status(["bootstrap", "db-name"]),
        [D, "core:status", "--format=json", "--fields=bootstrap,db-name", URI],
    ),
    ("status all", DRUSH.status(None), [D, "core:status", "--format=json", URI]),
    (
        "site:install",
        DRUSH.site_install(
            account_pass=PASSWORD,
            account_mail="ops@example.org",
            site_name="A & B's <site>",
        ),
        [
            D,
            "site:install",
            "--sites-subdir=a.example.com",
            "--site-name=A & B's <site>",
            "--site-mail=ops@example.org",
            "--account-name=admin",
            "--account-mail=ops@example.org",
            f"--account-pass={PASSWORD}",
            "--locale=en",
            URI,
            "-y",
            "standard",
        ],
    ),
    (
        "site:install minimal",
        DRUSH.site_install(
            account_pass="pw",
            account_mail="a@b.c",
            site_name="S",
            profile="minimal",
            account_name="root1",
            locale="de",
            site_mail="site@b.c",
        ),
        [
            D,
            "site:install",
            "--sites-subdir=a.example.com",
            "--site-name=S",
            "--site-mail=site@b.c",
            "--account-name=root1",
            "--account-mail=a@b.c",
            "--account-pass=pw",
            "--locale=de",
            URI,
            "-y",
            "minimal",
        ],
    ),
    ("updatedb", DRUSH.updatedb(), [D, "updatedb", URI, "-y"]),
    ("updatedb:status", DRUSH.updatedb_status(), [D, "updatedb:status", "--format=json", URI]),
    ("cache:rebuild", DRUSH.cache_rebuild(), [D, "cache:rebuild", URI]),
    (
        "sql:dump",
        DRUSH.sql_dump("/var/aegir/backups/a/db.sql"),
        [
            D,
            "sql:dump",
            "--result-file=/var/aegir/backups/a/db.sql",
            "--gzip",
            "--format=json",
            URI,
        ],
    ),
    (
        "sql:dump plain, structure only caches",
        DRUSH.sql_dump("/b/db.sql", gzip=False, structure_tables=["cache*", "watchdog"]),
        [
            D,
            "sql:dump",
            "--result-file=/b/db.sql",
            "--structure-tables-list=cache*,watchdog",
            "--format=json",
            URI,
        ],
    ),
    (
        "sql:query",
        DRUSH.sql_query("SELECT COUNT(*) FROM node; -- $(id)"),
        [D, "sql:query", URI, "SELECT COUNT(*) FROM node; -- $(id)"],
    ),
    ("user:login", DRUSH.user_login(), [D, "user:login", "--no-browser", URI]),
    (
        "user:login path uid",
        DRUSH.user_login("admin/content", uid=7),
        [D, "user:login", "--no-browser", "--uid=7", URI, "admin/content"],
    ),
    (
        "user:login name",
        DRUSH.user_login(name="ed"),
        [D, "user:login", "--no-browser", "--name=ed", URI],
    ),
    ("core:cron", DRUSH.cron(), [D, "core:cron", URI]),
    (
        "pm:list",
        DRUSH.pm_list(),
        [D, "pm:list", "--type=module,theme", "--status=enabled", "--format=json", URI],
    ),
    (
        "pm:list all",
        DRUSH.pm_list(enabled_only=False),
        [D, "pm:list", "--type=module,theme", "--format=json", URI],
    ),
    ("maint:set 1", DRUSH.maint_set(True), [D, "maint:set", URI, "1"]),
    ("maint:set 0", DRUSH.maint_set(False), [D, "maint:set", URI, "0"]),
    ("maint:status", DRUSH.maint_status(), [D, "maint:status", URI]),
]


@pytest.mark.parametrize(("argv", "expected"), [(a, e) for _, a, e in ARGV_TABLE])
def test_argv_per_command(argv: list[str], expected: list[str]) -> None:
    assert argv == expected
    assert all(isinstance(arg, str) for arg in argv)


def test_every_command_has_uri_no_root_no_db_url() -> None:
    for _, argv, _ in ARGV_TABLE:
        assert argv[0] == D  # run directly, never `php vendor/bin/drush`
        assert URI in argv
        assert not any(a.startswith(("--root", "-r", "--db-url")) for a in argv)
        assert "--format=json" not in argv or argv[1] in {
            "core:status",
            "updatedb:status",
            "sql:dump",
            "pm:list",
        }


def test_yes_only_where_drush_confirms() -> None:
    with_yes = {argv[1] for _, argv, _ in ARGV_TABLE if "-y" in argv}
    assert with_yes == {"site:install", "updatedb"}


@pytest.mark.parametrize(
    "site",
    ["$(touch pwned)", "a;b", "a b", "`id`", "it's", "a|b", "*", "~root", "-x", "new\nline"],
)
def test_shell_metacharacters_in_site_names_stay_one_argument(site: str) -> None:
    d = Drush("/srv/p", site)
    argv = d.status(["bootstrap"])
    assert argv == [
        "/srv/p/vendor/bin/drush",
        "core:status",
        "--format=json",
        "--fields=bootstrap",
        f"--uri=http://{site}",
    ]
    assert shlex.split(quote_argv(argv)) == argv
    si = d.site_install(account_pass="p", account_mail="m@x.y", site_name=site)
    assert f"--sites-subdir={site}" in si
    assert shlex.split(quote_argv(si)) == si


def test_paths_uri_and_options() -> None:
    d = Drush("/srv/p/", "b.example", docroot=".", drush="bin/drush", https=True)
    assert d.executable == "/srv/p/bin/drush"
    assert d.root == "/srv/p"
    assert d.site_dir == "/srv/p/sites/b.example"
    assert d.settings_php == "/srv/p/sites/b.example/settings.php"
    assert d.cron() == ["/srv/p/bin/drush", "core:cron", "--uri=https://b.example"]
    assert DRUSH.site_dir == "/var/aegir/platforms/p1/web/sites/a.example.com"
    assert Drush.dump_path("/b/x.sql") == "/b/x.sql.gz"
    assert Drush.dump_path("/b/x.sql", gzip=False) == "/b/x.sql"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Drush("relative/p", "a"),
        lambda: Drush("/p", "a", drush="/usr/bin/drush"),
        lambda: Drush("/p", "a", drush=""),
        lambda: Drush("/p", ""),
        lambda: Drush("/p", ".."),
        lambda: Drush("/p", "a/b"),
        lambda: DRUSH.status(["db-password"]),
        lambda: DRUSH.status([]),
        lambda: DRUSH.status(["a,b"]),
        lambda: DRUSH.site_install(account_pass="", account_mail="m", site_name="s"),
        lambda: DRUSH.site_install(
            account_pass="p", account_mail="m", site_name="s", profile="--db-url=x"
        ),
        lambda: DRUSH.site_install(
            account_pass="p", account_mail="m", site_name="s", profile="../recipes/x"
        ),
        lambda: DRUSH.sql_dump("backup.sql"),
        lambda: DRUSH.sql_dump("auto"),
        lambda: DRUSH.sql_query("   "),
        lambda: DRUSH.sql_query("--help"),
        lambda: DRUSH.user_login("-x"),
        lambda: DRUSH.user_login(uid=1, name="admin"),
    ],
)
def test_refused_inputs(make: object) -> None:
    assert callable(make)
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        make()


# ------------------------------------------------------------------------------ core:status

COMMON_TAIL = {
    "php-bin": "/usr/bin/php8.3",
    "php-os": "Linux",
    "php-version": "8.3.12",
    "drush-script": "/srv/p/vendor/bin/drush.php",
    "drush-version": "13.3.0.0",
    "drush-temp": "/tmp",
    "drush-conf": ["/srv/p/vendor/drush/drush/drush.yml"],
    "drush-alias-files": [],
    "alias-searchpaths": ["/srv/p/drush/sites"],
}


def status_json(data: dict[str, object]) -> str:
    """As drush prints it: 4-space pretty JSON, slashes unescaped, then a newline."""
    return json.dumps(data, indent=4) + "\n"


STATE_A = status_json(
    {
        "drupal-version": "10.3.7",
        "uri": "http://a.example.com",
        **COMMON_TAIL,
        "root": "/srv/p/web",
        "drupal-settings-file": "",
        "site": "sites/default",
        "themes": "sites/all/themes",
        "modules": "sites/all/modules",
        "config-sync": None,
        "%paths": {"%root": "/srv/p/web", "%site": "sites/default"},
    }
)
STATE_B = status_json(
    {
        "drupal-version": "10.3.7",
        "uri": "http://a.example.com",
        "db-driver": "mysql",
        "db-hostname": "127.0.0.1",
        "db-port": "3306",
        "db-username": "a_example_com_1a2b3c4d",
        "db-password": PASSWORD,
        "db-name": "a_example_com_1a2b3c4d",
        **COMMON_TAIL,
        "root": "/srv/p/web",
        "drupal-settings-file": "sites/a.example.com/settings.php",
        "site": "sites/a.example.com",
        "themes": "sites/all/themes",
        "modules": "sites/all/modules",
        "config-sync": "/srv/p/web/sites/a.example.com/private/config/sync",
        "%paths": {"%root": "/srv/p/web"},
    }
)
STATE_C_MYSQL = status_json(
    {
        "drupal-version": "10.3.7",
        "uri": "http://a.example.com",
        "db-driver": "mysql",
        "db-hostname": "127.0.0.1",
        "db-port": 3306,
        "db-username": "a_example_com_1a2b3c4d",
        "db-password": PASSWORD,
        "db-name": "a_example_com_1a2b3c4d",
        "db-status": "Connected",
        "bootstrap": "Successful",
        "theme": "olivero",
        "admin-theme": "claro",
        **COMMON_TAIL,
        "install-profile": "standard",
        "root": "/srv/p/web",
        "drupal-settings-file": "sites/a.example.com/settings.php",
        "site": "sites/a.example.com",
        "themes": "sites/all/themes",
        "modules": "sites/all/modules",
        "files": "sites/a.example.com/files",
        "temp": "/tmp",
        "config-sync": "sites/a.example.com/files/config_" + "x" * 74 + "/sync",
        "%paths": {"%root": "/srv/p/web", "%files": "sites/a.example.com/files"},
    }
)
STATE_C_SQLITE = status_json(
    {
        "drupal-version": "10.3.7",
        "uri": "http://lite.example",
        "db-driver": "sqlite",
        "db-port": None,
        "db-username": None,
        "db-password": None,
        "db-name": "/srv/p/web/sites/lite.example/private/db.sqlite",
        "db-status": "Connected",
        "bootstrap": "Successful",
        "theme": "olivero",
        "admin-theme": "claro",
        **COMMON_TAIL,
        "install-profile": "minimal",
        "root": "/srv/p/web",
        "drupal-settings-file": "sites/lite.example/settings.php",
        "site": "sites/lite.example",
        "files": "sites/lite.example/files",
        "temp": "/tmp",
        "config-sync": "/srv/p/web/sites/lite.example/private/config/sync",
    }
)


def test_status_no_credentials() -> None:
    s = parse_status(STATE_A, 0)
    assert s.state == "no-database"
    assert not s.healthy
    assert (s.drupal_version, s.site_path, s.settings_file) == ("10.3.7", "sites/default", "")
    assert (s.db_driver, s.db_port, s.config_sync, s.install_profile) == (None, None, None, None)


def test_status_credentials_but_not_installed() -> None:
    s = parse_status(STATE_B, 0)
    assert s.state == "not-installed"
    assert not s.bootstrap_successful and not s.db_connected
    assert s.db_port == 3306  # the string "3306" written by the controller, as a number
    assert s.db_host == "127.0.0.1"


def test_status_installed_mysql_keeps_no_password() -> None:
    s = parse_status(STATE_C_MYSQL, 0)
    assert s.state == "installed" and s.healthy and s.db_connected
    assert s.db_port == 3306
    assert (s.db_driver, s.db_name, s.db_username) == (
        "mysql",
        "a_example_com_1a2b3c4d",
        "a_example_com_1a2b3c4d",
    )
    assert (s.install_profile, s.theme, s.admin_theme) == ("standard", "olivero", "claro")
    assert s.drush_version == "13.3.0.0"
    assert s.files == "sites/a.example.com/files"
    assert PASSWORD not in repr(s)


def test_status_installed_sqlite_has_null_port_and_no_hostname() -> None:
    s = parse_status(STATE_C_SQLITE, 0)
    assert s.state == "installed"
    assert (s.db_driver, s.db_host, s.db_port, s.db_username) == ("sqlite", None, None, None)
    assert s.db_name == "/srv/p/web/sites/lite.example/private/db.sqlite"


def test_status_restricted_fields_in_given_order() -> None:
    out = '{\n    "db-name": "x",\n    "bootstrap": "Successful"\n}\n'
    s = parse_status(out, 0)
    assert (s.db_name, s.bootstrap_successful, s.drupal_version) == ("x", True, None)


@pytest.mark.parametrize(
    "noise",
    [
        "// Do you want to continue?: yes.\n\n",
        "PHP Deprecated:  Creation of dynamic property Foo::$bar is deprecated in "
        "/srv/p/web/modules/x/x.module on line 12 {sic}\n",
        "\nDeprecated: {weird} [1] in /srv/p/x.php on line 3\n",
        "  \n",
    ],
)
def test_status_skips_noise_before_json(noise: str) -> None:
    s = parse_status(noise + STATE_C_MYSQL, 0)
    assert s.bootstrap_successful


@pytest.mark.parametrize(
    ("port", "expected"),
    [(3306, 3306), ("3306", 3306), (" 3307 ", 3307), (None, None), ("", None), (True, None)],
)
def test_status_ports_compare_as_numbers(port: object, expected: int | None) -> None:
    s = parse_status(json.dumps({"db-driver": "mysql", "db-port": port}), 0)
    assert s.db_port == expected


@pytest.mark.parametrize(
    ("stdout", "exit_code"),
    [
        (STATE_C_MYSQL, 1),
        ("", 0),
        ('Error: Class "Drupal\\Core\\DrupalKernel" not found\n', 1),
        ("not json at all\n", 0),
        ("[]\n", 0),
        ('"a string"\n', 0),
    ],
)
def test_status_failures(stdout: str, exit_code: int) -> None:
    with pytest.raises(DrushOutputError) as err:
        parse_status(stdout, exit_code)
    assert PASSWORD not in str(err.value)


def test_find_json_skips_braces_that_are_not_json() -> None:
    assert find_json('x {not json}\n{\n    "a": 1\n}\n') == {"a": 1}
    with pytest.raises(DrushOutputError):
        find_json("prefix []\n", dict)
    assert find_json("noise []\n", list) == []
    assert find_json('inline {"a": 2} tail') == {"a": 2}


# ----------------------------------------------------------------------- updatedb:status

UPDBST_PENDING = (
    "{\n"
    '    "system_update_10301": {\n'
    '        "module": "system",\n'
    '        "update_id": 10301,\n'
    '        "type": "hook_update_n",\n'
    '        "description": "Add the path_alias table."\n'
    "    },\n"
    '    "mymodule-post-fix_things": {\n'
    '        "module": "mymodule",\n'
    '        "update_id": "fix_things",\n'
    '        "type": "post-update",\n'
    '        "description": "Fix things \\u00e9t\\u00e9 a/b."\n'
    "    }\n"
    "}\n"
)


def test_updatedb_status_pending_in_order() -> None:
    assert parse_updatedb_status(UPDBST_PENDING, 0) == [
        PendingUpdate(
            "system_update_10301", "system", 10301, "hook_update_n", "Add the path_alias table."
        ),
        PendingUpdate(
            "mymodule-post-fix_things",
            "mymodule",
            "fix_things",
            "post-update",
            "Fix things été a/b.",
        ),
    ]


@pytest.mark.parametrize("stdout", ["", "\n", "[]\n", "[]"])
def test_updatedb_status_nothing_pending_is_empty_stdout(stdout: str) -> None:
    assert parse_updatedb_status(stdout) == []
    assert parse_updatedb_status(stdout, 0) == []


def test_updatedb_status_bootstrap_failed_is_not_nothing_pending() -> None:
    # exit 1, empty stdout, stderr " [error]  Bootstrap failed. ..."
    with pytest.raises(DrushOutputError):
        parse_updatedb_status("", 1)
    with pytest.raises(DrushOutputError):
        parse_updatedb_status("garbage\n", 0)


# -------------------------------------------------------------------------------- pm:list

PM_LIST = """{
    "node": {
        "package": "Core",
        "project": "",
        "display_name": "Node (node)",
        "name": "node",
        "type": "module",
        "path": "core/modules/node",
        "status": "Enabled",
        "version": "10.3.7"
    },
    "pathauto": {
        "package": "SEO",
        "project": "pathauto",
        "display_name": "Pathauto (pathauto)",
        "name": "pathauto",
        "type": "module",
        "path": "modules/contrib/pathauto",
        "status": "Disabled",
        "version": "8.x-1.13"
    },
    "mycustom": {
        "package": "Custom",
        "project": "",
        "display_name": "My custom (mycustom)",
        "name": "mycustom",
        "type": "module",
        "path": "modules/custom/mycustom",
        "status": "Enabled",
        "version": null
    },
    "olivero": {
        "package": "Core",
        "project": "",
        "display_name": "Olivero (olivero)",
        "name": "olivero",
        "type": "theme",
        "path": "core/themes/olivero",
        "status": "Enabled",
        "version": "10.3.7"
    }
}
"""


def test_pm_list() -> None:
    assert parse_pm_list(PM_LIST, 0) == {
        "node": Extension("module", "Enabled", "10.3.7"),
        "pathauto": Extension("module", "Disabled", "8.x-1.13"),
        "mycustom": Extension("module", "Enabled", None),
        "olivero": Extension("theme", "Enabled", "10.3.7"),
    }
    kind, status, version = parse_pm_list(PM_LIST)["olivero"]
    assert (kind, status, version) == ("theme", "Enabled", "10.3.7")


def test_pm_list_empty_and_failures() -> None:
    assert parse_pm_list("[]\n") == {}
    with pytest.raises(DrushOutputError):
        parse_pm_list(PM_LIST, 1)  # "Command pm:list was not found…" on a broken site
    with pytest.raises(DrushOutputError):
        parse_pm_list('{"node": "Enabled"}')


# ------------------------------------------------------------------------------ user:login

LOGIN = (
    "http://a.example.com/user/reset/1/1729800000/hRk2-q_Xb9Zz0aA1bB2cC3dD4eE5fF6gG7hH8iI9jJ0/login"
)


@pytest.mark.parametrize(
    "stdout",
    [
        LOGIN + "\n",
        LOGIN,
        "\n" + LOGIN + "  \n",
        "Deprecated: something in /srv/p/x.php on line 3\n" + LOGIN + "\n",
    ],
)
def test_login_url(stdout: str) -> None:
    assert parse_login_url(stdout, 0) == LOGIN


def test_login_url_with_destination_and_https() -> None:
    url = "https://a.example.com/user/reset/1/1729800000/abc/login?destination=admin/content"
    assert parse_login_url(url + "\n") == url


@pytest.mark.parametrize(
    ("stdout", "exit_code"),
    [
        # §7: on a configured but uninstalled site the PHP error is on STDOUT, exit 1
        ('Error: Class "Drupal\\user\\Entity\\User" not found in /srv/p/x.php:12\n', 1),
        (LOGIN + "\n", 1),
        ("", 0),
        ("see http://a.example.com/user/reset/1/2/3/login for help\n", 0),
    ],
)
def test_login_url_failures(stdout: str, exit_code: int) -> None:
    with pytest.raises(DrushOutputError):
        parse_login_url(stdout, exit_code)


# --------------------------------------------------------------------- sql:*, maint:status


def test_sql_query_strips_the_extra_empty_line() -> None:
    assert parse_sql_query("1\n\n") == [["1"]]  # §7: `sql:query 'SELECT 1'`
    assert parse_sql_query("a\tb\nc\td\n\n\n", 0) == [["a", "b"], ["c", "d"]]
    assert parse_sql_query("\n") == []
    with pytest.raises(DrushOutputError):
        parse_sql_query("", 1)


def test_sql_dump_path() -> None:
    out = '{\n    "path": "/var/aegir/backups/a/db_a.sql.gz"\n}\n'
    assert parse_sql_dump(out, 0) == "/var/aegir/backups/a/db_a.sql.gz"
    with pytest.raises(DrushOutputError):
        parse_sql_dump('{\n    "path": null\n}\n', 0)
    with pytest.raises(DrushOutputError):
        parse_sql_dump(out, 1)


@pytest.mark.parametrize(("code", "on"), [(0, False), (3, True)])
def test_maint_status_by_exit_code(code: int, on: bool) -> None:
    assert parse_maint_status(code) is on


@pytest.mark.parametrize("code", [1, 2, 255, -1])
def test_maint_status_other_codes_fail(code: int) -> None:
    with pytest.raises(DrushOutputError):
        parse_maint_status(code)


# ----------------------------------------------------------------------------------- logs

# §7: a failed update as real drush 13.3.0 prints it on stderr (the batch's lines prefixed "> ",
# errors with two spaces after the level and a trailing space)
UPDB_FAILED_STDERR = (
    ">  [notice] Update started: mymodule_update_10001\n"
    ">  [error]  Update failed: mymodule_update_10001 \n"
    ">  [notice] Update started: other_update_10002\n"
    ">  [notice] Update completed: other_update_10002\n"
    " [error]  Update aborted by: mymodule_update_10001 \n"
    " [error]  Finished performing updates. \n"
)
UPDB_FAILED_STDOUT = (
    " ----------- ----------- --------------- ----------------------- \n"
    "  Module      Update ID   Type            Description            \n"
    " ----------- ----------- --------------- ----------------------- \n"
    "  mymodule    10001       hook_update_n   10001 - Add a column.  \n"
    " ----------- ----------- --------------- ----------------------- \n"
    "\n"
    " // Do you wish to run the specified pending updates?: yes.\n"
    "\n"
)


def test_log_of_a_failed_updatedb() -> None:
    assert parse_log(UPDB_FAILED_STDERR) == [
        LogLine("notice", "Update started: mymodule_update_10001"),
        LogLine("error", "Update failed: mymodule_update_10001"),
        LogLine("notice", "Update started: other_update_10002"),
        LogLine("notice", "Update completed: other_update_10002"),
        LogLine("error", "Update aborted by: mymodule_update_10001"),
        LogLine("error", "Finished performing updates."),
    ]
    assert parse_log(UPDB_FAILED_STDOUT) == []  # the table and prompt are not log lines


def test_log_shapes() -> None:
    stderr = (
        " [notice] Starting Drupal installation. This takes a while.\n"
        " [notice] Performed install task: install_select_language\n"
        " [success] Installation complete.\n"
        " [warning] Drush command terminated abnormally.\n"
        " [error]  Bootstrap failed. Run your command with -vvv for more information. \n"
        "\x1b[32m [success]\x1b[39m Cache rebuild complete.\n"
        " [info] Cron run completed. [0.12 sec, 20.1 MB]\n"
        " [notice]\n"
        "\n"
        "In BootstrapHook.php line 32:\n"
        "                                                                                \n"
        "  [Drush\\Exceptions\\CommandFailedException]                                   \n"
        "  Command cache:rebuild was not found. Drush was unable to query the database  \n"
        "  . As a result, many commands are unavailable. Re-run your command with --de  \n"
        "  bug to see relevant log messages.                                            \n"
        "                                                                                \r\n"
    )
    assert parse_log(stderr) == [
        ("notice", "Starting Drupal installation. This takes a while."),
        ("notice", "Performed install task: install_select_language"),
        ("success", "Installation complete."),
        ("warning", "Drush command terminated abnormally."),
        ("error", "Bootstrap failed. Run your command with -vvv for more information."),
        ("success", "Cache rebuild complete."),
        ("info", "Cron run completed. [0.12 sec, 20.1 MB]"),
        ("notice", ""),
    ]
    assert parse_log("") == []


# --------------------------------------------------------------------------------- redact

INSTALL_STDERR_RANDOM = (
    " [notice] Starting Drupal installation. This takes a while.\n"
    " [notice] Performed install task: install_profile_themes\n"
    " [success] Installation complete.  User name: admin  User password: Gq7rT2sXvB9k\n"
)


def test_redact_random_install_password() -> None:
    out = redact(INSTALL_STDERR_RANDOM, [])
    assert "Gq7rT2sXvB9k" not in out
    assert out.endswith(f"User name: admin  User password: {REDACTED}\n")
    assert "Starting Drupal installation" in out


@pytest.mark.parametrize(
    "shown",
    [
        PASSWORD,  # raw
        json.dumps(PASSWORD)[1:-1],  # JSON-escaped (status' db-password)
        PASSWORD.replace("\\", "\\\\").replace("'", "\\'"),  # PHP single-quoted
        shlex.quote(f"--account-pass={PASSWORD}"),  # a command line from quote_argv
    ],
)
def test_redact_given_secret_in_every_shape(shown: str) -> None:
    text = f"before {shown} after\n"
    out = redact(text, [PASSWORD])
    assert "s3cr3t" not in out, out
    assert out.startswith("before ") and out.endswith(" after\n")


def test_redact_install_argv_and_status_json() -> None:
    argv = DRUSH.site_install(account_pass=PASSWORD, account_mail="m@x.y", site_name="S")
    line = quote_argv(argv)
    assert "s3cr3t" not in redact(line, [PASSWORD])
    assert "s3cr3t" not in redact(line, [])  # the option's value goes even when not named
    assert "--sites-subdir=a.example.com" in redact(line, [])
    status = redact(STATE_C_MYSQL, [])
    assert "s3cr3t" not in status
    assert json.loads(status)["db-password"] == REDACTED
    assert json.loads(redact(STATE_C_SQLITE, []))["db-password"] is None


def test_redact_url_passwords_and_leaves_the_rest() -> None:
    text = "mysql://user:hunter2@127.0.0.1:3306/db and http://a.example.com:8080/x"
    assert redact(text, []) == (
        f"mysql://user:{REDACTED}@127.0.0.1:3306/db and http://a.example.com:8080/x"
    )
    assert redact("nothing secret here\n", ["", "absent"]) == "nothing secret here\n"
    assert redact(LOGIN, []) == LOGIN


@given(
    secret=st.text(min_size=1, max_size=30),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_redact_never_leaves_the_secret(secret: str, before: str, after: str) -> None:
    out = redact(before + secret + after, [secret])
    for piece in out.split(REDACTED):
        assert secret not in piece
