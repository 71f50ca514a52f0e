"""drush 12/13 on a platform: `Drush`, the argument lists for the commands the reconciler runs.

Pure: nothing here touches a server. Coded to real drush 12.5 / 13.3 as written in the drush
contract reference (`drupal-drush-contract.md`), including its §7 corrections from a run against
real Drupal 10.3.7 + drush 13.3.0. What the commands print is read by `drush_output` (its parsers
and `redact`).

How commands are built
----------------------
* Always argument lists, never shell strings: a site name full of shell metacharacters is one argv
  element (the transport single-quotes every element); names are validated upstream anyway.
* The executable is `<codebase>/<drush>` (default `vendor/bin/drush`), run **directly**: it is a
  Composer proxy script, not a PHP file (§7), so never `php vendor/bin/drush`.
* `--root` is **not** passed. Drush 12/13 take the Drupal root from their own Composer project
  (the parent of the installed `drupal/core`, §2.1); 13 documents `--root` as deprecated, and in 12
  a `--root` naming another codebase re-dispatches to that codebase's drush. Running the platform's
  own binary selects its root already; `--root` could only add a way to get it wrong. The docroot
  is still needed here, for the site's paths on the server (`site_dir`, `settings_php`).
* `--uri=http://<site>` (or `https://`) on every command: it selects `sites/<dir>` through
  `sites/sites.php` (§2.2), is the base of `user:login` URLs (§1.16: without it the URL starts with
  `http://default`, or the command fails), and never hurts elsewhere.
* `site:install` also gets `--sites-subdir=<site>` (§2.3: `--uri` alone installs into
  `sites/default`) and never `--db-url`: the controller pre-writes `settings.php` with `$databases`,
  a non-empty `hash_salt` and an existing `config_sync_directory`, so the installer writes nothing
  (§1.8.1). `--account-pass` is always given: without it drush prints a random password on stderr.
* `-y` where drush asks for confirmation (`site:install`, `updatedb`). Stdin over the transport is
  not a TTY either, so drush would not wait for an answer anyway.
* Positional arguments (profile, SQL, login path) come last and may not start with `-` (they would
  be read as options); relative paths are refused where drush would resolve them against the
  docroot (`--result-file`).
* Secrets: `core:status` is never asked for `db-password`; the `site:install` argument list holds
  the admin password (how to run it and what to `redact`: `drush_output`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_DRUSH",
    "STATUS_FIELDS",
    "Drush",
]

DEFAULT_DRUSH = "vendor/bin/drush"

STATUS_FIELDS: tuple[str, ...] = (
    "drupal-version",
    "uri",
    "db-driver",
    "db-hostname",
    "db-port",
    "db-username",
    "db-name",
    "db-status",
    "bootstrap",
    "theme",
    "admin-theme",
    "drush-version",
    "install-profile",
    "root",
    "drupal-settings-file",
    "site",
    "files",
    "config-sync",
)
"""The `core:status` fields asked for by default: every one the reconciler reads, never
`db-password`. All are labelled fields, so none is an "unknown field" error (exit 1); those the
site's state does not fill are silently left out (§1.3, §1.7)."""

_SECRET_FIELDS = frozenset({"db-password"})
_MACHINE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Drush:
    """drush for one site of one platform: every method returns one argument list."""

    codebase: str
    """The platform's codebase root on its server (the Composer project, holding `vendor/`)."""
    site: str
    """The site's name: its primary domain and its directory `sites/<site>`."""
    docroot: str = "web"
    """The web root inside the codebase (`.` for a codebase with `index.php` at its root)."""
    drush: str = DEFAULT_DRUSH
    """The drush executable, relative to the codebase."""
    https: bool = False
    """Build `--uri` with `https://` (login links then start with it)."""

    def __post_init__(self) -> None:
        if not posixpath.isabs(self.codebase):
            raise ValueError(f"the codebase path must be absolute: {self.codebase!r}")
        if not self.drush or posixpath.isabs(self.drush):
            raise ValueError(f"drush must be a path relative to the codebase: {self.drush!r}")
        if self.site in ("", ".", "..") or "/" in self.site:
            raise ValueError(f"not a site directory name: {self.site!r}")

    # -- paths and the URI

    @property
    def executable(self) -> str:
        """The drush binary, run directly (a Composer proxy script, never `php <it>`)."""
        return posixpath.normpath(posixpath.join(self.codebase, self.drush))

    @property
    def root(self) -> str:
        """The docroot on the server (what `core:status` reports as `root`, symlinks aside)."""
        return posixpath.normpath(posixpath.join(self.codebase, self.docroot))

    @property
    def site_dir(self) -> str:
        return posixpath.join(self.root, "sites", self.site)

    @property
    def settings_php(self) -> str:
        return posixpath.join(self.site_dir, "settings.php")

    @property
    def uri(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.site}"

    def _argv(
        self, command: str, *options: str, args: Sequence[str] = (), yes: bool = False
    ) -> list[str]:
        for arg in args:
            if arg.startswith("-"):
                raise ValueError(f"a drush argument may not start with '-': {arg!r}")
        tail = ["-y"] if yes else []
        return [self.executable, command, *options, f"--uri={self.uri}", *tail, *args]

    # -- the commands

    def status(self, fields: Sequence[str] | None = STATUS_FIELDS) -> list[str]:
        """`core:status --format=json`, restricted to `fields` (None: every field, including
        `db-password` — then `redact` the output). Exit 0 in every state of the site (§1.7)."""
        options = ["--format=json"]
        if fields is not None:
            if not fields:
                raise ValueError("no status fields asked for")
            for name in fields:
                if name in _SECRET_FIELDS:
                    raise ValueError(f"{name} is a secret: never asked for")
                if not name or "," in name:
                    raise ValueError(f"not a status field name: {name!r}")
            options.append("--fields=" + ",".join(fields))
        return self._argv("core:status", *options)

    def site_install(
        self,
        *,
        account_pass: str,
        account_mail: str,
        site_name: str,
        profile: str = "standard",
        account_name: str = "admin",
        locale: str = "en",
        site_mail: str | None = None,
    ) -> list[str]:
        """`site:install <profile>` into `sites/<site>`, credentials from the pre-written
        settings.php (no `--db-url`). The list holds the admin password: use it once, never log
        it, then discard it."""
        if not _MACHINE_NAME.fullmatch(profile):
            raise ValueError(f"not an install profile machine name: {profile!r}")
        if not account_pass:
            raise ValueError("an empty admin password (drush would print a random one)")
        return self._argv(
            "site:install",
            f"--sites-subdir={self.site}",
            f"--site-name={site_name}",
            f"--site-mail={site_mail if site_mail is not None else account_mail}",
            f"--account-name={account_name}",
            f"--account-mail={account_mail}",
            f"--account-pass={account_pass}",
            f"--locale={locale}",
            args=[profile],
            yes=True,
        )

    def updatedb(self) -> list[str]:
        """`updatedb -y`: exit 0 also when nothing was pending, 1 when any update failed — then
        re-read `updatedb:status` and restore the backup (§7), never match the log text."""
        return self._argv("updatedb", yes=True)

    def updatedb_status(self) -> list[str]:
        """`updatedb:status --format=json`: stdout is EMPTY when nothing is pending (§1.10)."""
        return self._argv("updatedb:status", "--format=json")

    def cache_rebuild(self) -> list[str]:
        """`cache:rebuild`: no stdout. In 13.0-13.3 "not found" (exit 1) unless fully booted."""
        return self._argv("cache:rebuild")

    def sql_dump(
        self, result_file: str, *, gzip: bool = True, structure_tables: Sequence[str] = ()
    ) -> list[str]:
        """`sql:dump --result-file=<absolute path> [--gzip] --format=json`.

        With `--gzip` drush appends `.gz` to the name (see `dump_path`); `@DATABASE` and `@DATE`
        in the name are drush's tokens. `structure_tables` (e.g. `cache*`) are dumped without
        their rows (ignored for SQLite). stdout is `{"path": ...}` (`parse_sql_dump`)."""
        if not posixpath.isabs(result_file):
            raise ValueError(f"the dump file must be an absolute path: {result_file!r}")
        options = [f"--result-file={result_file}"]
        if gzip:
            options.append("--gzip")
        if structure_tables:
            options.append("--structure-tables-list=" + ",".join(structure_tables))
        options.append("--format=json")
        return self._argv("sql:dump", *options)

    @staticmethod
    def dump_path(result_file: str, *, gzip: bool = True) -> str:
        """The file `sql_dump(result_file, gzip=...)` writes (before token replacement)."""
        return result_file + ".gz" if gzip else result_file

    def sql_cli(self) -> list[str]:
        """`sql:cli`: without a TTY it pipes its stdin into the database client (`drush sql:cli <
        dump.sql` imports), credentials from settings.php passed by drush, never on our line."""
        return self._argv("sql:cli")

    def sql_drop(self) -> list[str]:
        """`sql:drop -y`: drops every table of the site's database (not the database)."""
        return self._argv("sql:drop", yes=True)

    def sql_query(self, sql: str) -> list[str]:
        """`sql:query <sql>`: the client's raw output (tab-separated rows, then an extra empty
        line, §7: `parse_sql_query`). No `--format`."""
        if not sql.strip():
            raise ValueError("an empty query")
        return self._argv("sql:query", args=[sql])

    def user_login(
        self, path: str | None = None, *, uid: int | None = None, name: str | None = None
    ) -> list[str]:
        """`user:login [path] --no-browser --uri=...` (uid 1 unless `uid` or `name`): stdout is
        the one-time login URL (`parse_login_url`)."""
        if uid is not None and name is not None:
            raise ValueError("give uid or name, not both")
        options = ["--no-browser"]
        if uid is not None:
            options.append(f"--uid={uid}")
        if name is not None:
            options.append(f"--name={name}")
        return self._argv("user:login", *options, args=[path] if path else [])

    def cron(self) -> list[str]:
        """`core:cron`: no stdout; exit 0 decides even with ` [error]` lines on stderr (§7)."""
        return self._argv("core:cron")

    def pm_list(self, *, enabled_only: bool = True) -> list[str]:
        """`pm:list --type=module,theme [--status=enabled] --format=json` (`parse_pm_list`)."""
        options = ["--type=module,theme"]
        if enabled_only:
            options.append("--status=enabled")
        options.append("--format=json")
        return self._argv("pm:list", *options)

    def maint_set(self, on: bool) -> list[str]:
        """`maint:set 1` / `maint:set 0`."""
        return self._argv("maint:set", args=["1" if on else "0"])

    def maint_status(self) -> list[str]:
        """`maint:status`: no output; exit 3 when on, 0 when off (`parse_maint_status`)."""
        return self._argv("maint:status")
