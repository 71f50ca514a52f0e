"""The drush driver's argument lists and parsers against the drush-compatible STAND-IN platform.

Everything runs on rig host h01 as `aegir` through the project's own transport
(`SshTransport`), the way the controller will: settings.php is pre-written with `$databases`, a
hash_salt and an existing config sync directory, then `site:install` runs without `--db-url`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.mariadb import FreshDatabase

from reconciler.drivers.drush import Drush
from reconciler.drivers.drush_output import (
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
from reconciler.transport import CommandResult, SshTransport

pytestmark = pytest.mark.integration


def transport(h: TestHost) -> SshTransport:
    return SshTransport(
        h.name,
        "127.0.0.1",
        h.port,
        h.user,
        client_key=h.identity_file,
        known_hosts=h.known_hosts,
    )


def clone(h: TestHost, repo: Path, tag: str = "10.3.6") -> Path:
    dest = h.platforms / "p1"
    h.run(["git", "clone", "--quiet", "--branch", tag, str(repo), str(dest)])
    return dest


def php(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def settings_php(database: dict[str, str], sync_dir: str) -> str:
    """What the controller pre-writes: complete, so the installer writes nothing."""
    entries = "".join(f"  {php(k)} => {php(v)},\n" for k, v in database.items())
    return (
        "<?php\n\n"
        f"$databases['default']['default'] = [\n{entries}];\n"
        f"$settings['hash_salt'] = {php(secrets.token_urlsafe(55))};\n"
        f"$settings['config_sync_directory'] = {php(sync_dir)};\n"
    )


async def ok(t: SshTransport, argv: list[str], stdin: bytes | None = None) -> CommandResult:
    r = await t.run(argv, input=stdin, timeout=60)
    assert r.exit_status == 0, f"exit {r.exit_status}\n{r.out}\n{r.err}"
    return r


async def prepare_site(t: SshTransport, d: Drush, settings: str) -> None:
    """sites.php with its mapping; sites/<site> with files/, private/config/sync, settings.php."""
    sites = d.root + "/sites"
    await ok(t, ["mkdir", "-p", d.site_dir + "/files", d.site_dir + "/private/config/sync"])
    await ok(
        t,
        [
            "sh",
            "-c",
            '[ -e "$1/sites.php" ] || cp "$1/example.sites.php" "$1/sites.php"; '
            'printf "%s" "$2" >> "$1/sites.php"',
            "sh",
            sites,
            f"$sites[{php(d.site)}] = {php(d.site)};\n",
        ],
    )
    await ok(t, ["sh", "-c", 'cat > "$1"', "sh", d.settings_php], settings.encode())


async def install_and_exercise(
    t: SshTransport, d: Drush, settings: str, secret_values: list[str], *, driver: str
) -> None:
    await prepare_site(t, d, settings)

    # state (b): credentials, nothing installed
    r = await ok(t, d.status())
    before = parse_status(r.out, r.exit_status)
    assert before.state == "not-installed"
    assert before.db_driver == driver
    assert before.site_path == f"sites/{d.site}"

    # site:install without --db-url; the admin password passed once, then dropped
    admin_pass = secrets.token_urlsafe(32)
    argv = d.site_install(
        account_pass=admin_pass, account_mail="ops@example.org", site_name="Driver Test"
    )
    assert not any(a.startswith("--db-url") for a in argv)
    installed = await t.run(argv, timeout=60)
    del argv
    captured = redact(installed.out + installed.err, [admin_pass, *secret_values])
    assert installed.exit_status == 0, captured
    assert admin_pass not in captured
    assert "User password" not in installed.err  # given, so drush printed none
    assert ("success", "Installation complete.") in parse_log(installed.err)
    after_install = (await ok(t, ["cat", d.settings_php])).out
    assert after_install == settings  # complete settings.php: the installer wrote nothing
    del admin_pass

    # core:status: bootstrap Successful (the contract's health), no password in the output
    r = await ok(t, d.status())
    for value in secret_values:
        assert value not in r.out
    st = parse_status(r.out, r.exit_status)
    assert st.healthy and st.state == "installed"
    assert st.install_profile == "standard"
    assert st.drupal_version == "10.3.6"
    assert st.site_path == f"sites/{d.site}"
    assert st.uri == d.uri
    assert st.root == d.root

    # updates: none pending (empty stdout), updatedb exits 0
    r = await ok(t, d.updatedb_status())
    assert r.out == ""
    assert parse_updatedb_status(r.out, r.exit_status) == []
    await ok(t, d.updatedb())

    # extensions
    r = await ok(t, d.pm_list())
    extensions = parse_pm_list(r.out, r.exit_status)
    assert extensions["system"].type == "module"
    assert extensions["node"].status == "Enabled"
    assert extensions["olivero"].type == "theme"
    assert all(e.status == "Enabled" for e in extensions.values())

    # one-time login
    r = await ok(t, d.user_login())
    url = parse_login_url(r.out, r.exit_status)
    assert url.startswith(f"http://{d.site}/user/reset/1/")
    assert url.endswith("/login")

    # maintenance mode on -> maint:status exits 3 -> off
    assert parse_maint_status((await t.run(d.maint_status())).exit_status) is False
    await ok(t, d.maint_set(True))
    r = await t.run(d.maint_status())
    assert r.exit_status == 3
    assert parse_maint_status(r.exit_status) is True
    await ok(t, d.maint_set(False))
    assert parse_maint_status((await t.run(d.maint_status())).exit_status) is False

    # cache rebuild and cron: exit codes decide
    await ok(t, d.cache_rebuild())
    await ok(t, d.cron())

    # sql:query (raw output, extra empty line) and sql:dump to a gzip file
    r = await ok(t, d.sql_query("SELECT COUNT(*) FROM users"))
    rows = parse_sql_query(r.out, r.exit_status)
    assert len(rows) == 1 and rows[0][0].isdigit() and int(rows[0][0]) >= 1


async def dump(t: SshTransport, d: Drush, backups: Path) -> None:
    target = str(backups / "db.sql")
    r = await ok(t, d.sql_dump(target))
    path = parse_sql_dump(r.out, r.exit_status)
    assert path == Drush.dump_path(target) == target + ".gz"
    await ok(t, ["test", "-s", path])
    assert (await t.run(["test", "-e", target])).exit_status == 1


def test_sqlite_site_lifecycle(standin_repo: Path, h01: TestHost) -> None:
    p = clone(h01, standin_repo)
    d = Drush(str(p), "lite.example")
    settings = settings_php(
        {"driver": "sqlite", "database": d.site_dir + "/private/db.sqlite", "prefix": ""},
        d.site_dir + "/private/config/sync",
    )

    async def main() -> None:
        t = transport(h01)
        try:
            await install_and_exercise(t, d, settings, [], driver="sqlite")
            st = parse_status((await ok(t, d.status())).out, 0)
            assert (st.db_port, st.db_host) == (None, None)
            assert st.db_name == d.site_dir + "/private/db.sqlite"
            await dump(t, d, h01.backups)
        finally:
            await t.close()

    asyncio.run(main())


def test_mariadb_site_lifecycle(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo)
    d = Drush(str(p), f"maria-{secrets.token_hex(3)}.example")
    settings = settings_php(
        {
            "driver": "mysql",
            "database": db.name,
            "username": db.user,
            "password": db.password,
            "host": db.host,
            "port": str(db.port),  # a string, as written: compared as a number
            "prefix": "",
        },
        d.site_dir + "/private/config/sync",
    )

    async def main() -> None:
        t = transport(h01)
        try:
            await install_and_exercise(t, d, settings, [db.password], driver="mysql")
            r = await ok(t, d.status())
            st = parse_status(r.out, r.exit_status)
            assert st.db_port == db.port
            assert (st.db_name, st.db_username) == (db.name, db.user)
            assert st.db_connected
            await dump(t, d, h01.backups)
        finally:
            await t.close()

    asyncio.run(main())
    assert db.query("SELECT name FROM users WHERE uid = 1") == [["admin"]]


def test_status_without_settings_is_state_a(standin_repo: Path, h01: TestHost) -> None:
    p = clone(h01, standin_repo)
    d = Drush(str(p), "nothing-here.example")

    async def main() -> None:
        t = transport(h01)
        try:
            r = await t.run(d.status())
            st = parse_status(r.out, r.exit_status)
            assert st.state == "no-database"
            assert st.site_path == "sites/default"
            r = await t.run(d.updatedb_status())
            assert r.exit_status == 1  # "Bootstrap failed": not "nothing pending"
            assert (
                "error",
                "Bootstrap failed. Run your command with -vvv for more information.",
            ) in (parse_log(r.err))
        finally:
            await t.close()

    asyncio.run(main())
