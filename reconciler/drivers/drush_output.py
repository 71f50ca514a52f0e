"""Reading drush 12/13's output: the parsers of what the `drush.Drush` commands print, and `redact`.

Pure: nothing here touches a server. Coded to real drush 12.5 / 13.3 as written in the drush
contract reference (`drupal-drush-contract.md`), including its §7 corrections from a run against
real Drupal 10.3.7 + drush 13.3.0. The argument lists themselves are `drush.Drush`'s.

How output is read
------------------
* Decide by exit code (§7). Parse stdout only for the formatted-output commands (`core:status`,
  `updatedb:status`, `pm:list`, `sql:dump --format=json`) and `user:login`'s URL, and find the
  JSON start defensively: stdout is not always clean.
* Log lines are on stderr as ` [level] message`; real drush writes errors as ` [error]  message `
  (two spaces, trailing space) and the update batch's lines prefixed with `> ` (§7). `parse_log`
  takes them all; never match log text exactly.
* Secrets never leave: `core:status` is asked for named fields that exclude `db-password`, the
  status parser drops that key if it appears anyway, and `redact` removes given secret values (and
  whatever follows `User password:`) from captured output before it is shown, logged or journaled.
  The `site:install` argument list holds the admin password: never log it (the transport's
  `CommandFailed` message quotes the command line), run it with `check=False` and `redact` what
  is kept.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from reconciler.errors import PermanentError

__all__ = [
    "MAINT_ON_EXIT",
    "REDACTED",
    "DrushOutputError",
    "DrushStatus",
    "Extension",
    "LogLine",
    "PendingUpdate",
    "find_json",
    "parse_log",
    "parse_login_url",
    "parse_maint_status",
    "parse_pm_list",
    "parse_sql_dump",
    "parse_sql_query",
    "parse_status",
    "parse_updatedb_status",
    "redact",
]

MAINT_ON_EXIT = 3
"""`maint:status` exits 3 while the site is in maintenance mode, 0 otherwise (§1.20)."""
REDACTED = "[REDACTED]"


class DrushOutputError(PermanentError):
    """Drush's output cannot be taken as the answer (a failed command, no JSON where JSON is due).

    The message never quotes the output: it may hold secrets. The caller has it, and `redact`.
    """


def find_json(stdout: str, kind: type[dict[Any, Any]] | type[list[Any]] = dict) -> Any:
    """The first JSON document of type `kind` in `stdout`, noise before it skipped.

    Drush prints one pretty-printed document and a newline, but stdout is not always clean (§7:
    a confirmation or a PHP error may come first). Candidates starting a line are tried first,
    then any `{` / `[`. Raises DrushOutputError when there is none.
    """
    opener = "{" if kind is dict else "["
    decoder = json.JSONDecoder()
    starts: list[int] = []
    offset = 0
    for line in stdout.splitlines(keepends=True):
        stripped = len(line) - len(line.lstrip())
        if line[stripped : stripped + 1] == opener:
            starts.append(offset + stripped)
        offset += len(line)
    starts += [m.start() for m in re.finditer(re.escape(opener), stdout) if m.start() not in starts]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(stdout, start)
        except ValueError:
            continue
        if isinstance(value, kind):
            return value
    raise DrushOutputError(f"no JSON {kind.__name__} in drush's output")


def _require_success(command: str, exit_code: int) -> None:
    if exit_code != 0:
        raise DrushOutputError(
            f"drush {command} exited {exit_code}",
            hint="its stderr says why (redact it before showing it)",
        )


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _port(value: object) -> int | None:
    """Ports compare as numbers: settings.php may hold `3306` or `'3306'` (§7)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


SiteState = Literal["no-database", "not-installed", "installed"]


@dataclass(frozen=True)
class DrushStatus:
    """What `core:status` said about a site; the database password is never kept."""

    drupal_version: str | None = None
    uri: str | None = None
    db_driver: str | None = None
    db_host: str | None = None
    db_port: int | None = None
    db_username: str | None = None
    db_name: str | None = None
    db_connected: bool = False
    bootstrap_successful: bool = False
    install_profile: str | None = None
    theme: str | None = None
    admin_theme: str | None = None
    drush_version: str | None = None
    root: str | None = None
    settings_file: str | None = None
    site_path: str | None = None
    files: str | None = None
    config_sync: str | None = None

    @property
    def state(self) -> SiteState:
        """(a) no credentials, (b) credentials but not installed, (c) installed (§1.7)."""
        if self.bootstrap_successful:
            return "installed"
        if self.db_driver is not None:
            return "not-installed"
        return "no-database"

    @property
    def healthy(self) -> bool:
        """CONTRACT.md's drush half of a site's health: `bootstrap: Successful`."""
        return self.bootstrap_successful


def parse_status(stdout: str, exit_code: int) -> DrushStatus:
    """`core:status --format=json` output (exit 0 in every state, so non-zero is a failure)."""
    _require_success("core:status", exit_code)
    data: dict[str, Any] = find_json(stdout, dict)
    return DrushStatus(
        drupal_version=_str(data, "drupal-version"),
        uri=_str(data, "uri"),
        db_driver=_str(data, "db-driver"),
        db_host=_str(data, "db-hostname"),
        db_port=_port(data.get("db-port")),
        db_username=_str(data, "db-username"),
        db_name=_str(data, "db-name"),
        db_connected=data.get("db-status") == "Connected",
        bootstrap_successful=data.get("bootstrap") == "Successful",
        install_profile=_str(data, "install-profile"),
        theme=_str(data, "theme"),
        admin_theme=_str(data, "admin-theme"),
        drush_version=_str(data, "drush-version"),
        root=_str(data, "root"),
        settings_file=_str(data, "drupal-settings-file"),
        site_path=_str(data, "site"),
        files=_str(data, "files"),
        config_sync=_str(data, "config-sync"),
    )


class PendingUpdate(NamedTuple):
    """One row of `updatedb:status`: a hook_update_N or a post-update."""

    id: str
    """`<module>_update_<N>` or `<module>-post-<name>`."""
    module: str
    update_id: int | str
    """N of hook_update_N, or the post-update's name."""
    type: str
    """`hook_update_n` or `post-update`."""
    description: str


def parse_updatedb_status(stdout: str, exit_code: int = 0) -> list[PendingUpdate]:
    """Pending updates from `updatedb:status --format=json`, in drush's order.

    EMPTY stdout means nothing is pending (drush prints nothing then, even with --format=json).
    That holds only on exit 0 — "Bootstrap failed" also prints nothing on stdout — so pass the
    exit code.
    """
    _require_success("updatedb:status", exit_code)
    if not stdout.strip():
        return []
    data = _rows(stdout)
    pending = []
    for key, row in data.items():
        if not isinstance(row, dict):
            raise DrushOutputError(f"updatedb:status row {key!r} is not an object")
        update_id = row.get("update_id")
        pending.append(
            PendingUpdate(
                id=str(key),
                module=str(row.get("module", "")),
                update_id=update_id if isinstance(update_id, int | str) else str(update_id),
                type=str(row.get("type", "")),
                description=str(row.get("description") or ""),
            )
        )
    return pending


def _rows(stdout: str) -> dict[str, Any]:
    """A "rows of fields" result: an object keyed by row id, or `[]` when empty (§1.3)."""
    try:
        rows: dict[str, Any] = find_json(stdout, dict)
    except DrushOutputError:
        if find_json(stdout, list) == []:
            return {}
        raise
    return rows


class Extension(NamedTuple):
    type: str
    """`module`, `theme` (or `profile` when asked for)."""
    status: str
    """`Enabled` or `Disabled`."""
    version: str | None
    """Contrib: the release; core: the core version; custom code often null."""


def parse_pm_list(stdout: str, exit_code: int = 0) -> dict[str, Extension]:
    """`pm:list --format=json`: {machine name: (type, status, version)}."""
    _require_success("pm:list", exit_code)
    result = {}
    for name, row in _rows(stdout).items():
        if not isinstance(row, dict):
            raise DrushOutputError(f"pm:list row {name!r} is not an object")
        version = row.get("version")
        result[str(name)] = Extension(
            type=str(row.get("type", "")),
            status=str(row.get("status", "")),
            version=version if isinstance(version, str) and version else None,
        )
    return result


_URL = re.compile(r"https?://\S+")


def parse_login_url(stdout: str, exit_code: int = 0) -> str:
    """The one-time login URL: the first stdout line that is one. Not trusted on a non-zero exit
    (§7: a failing `user:login` may print a PHP error on stdout)."""
    _require_success("user:login", exit_code)
    for line in stdout.splitlines():
        if _URL.fullmatch(line.strip()):
            return line.strip()
    raise DrushOutputError("no login URL in drush user:login's output")


def parse_sql_dump(stdout: str, exit_code: int = 0) -> str:
    """The dump file from `sql:dump --result-file=... --format=json` (`{"path": ...}`)."""
    _require_success("sql:dump", exit_code)
    path = find_json(stdout, dict).get("path")
    if not isinstance(path, str) or not path:
        raise DrushOutputError("drush sql:dump named no dump file")
    return path


def parse_sql_query(stdout: str, exit_code: int = 0) -> list[list[str]]:
    """Rows of `sql:query`'s raw client output (tab-separated), trailing blank lines dropped
    (§7: drush prints an extra empty line). Values are as the client prints them."""
    _require_success("sql:query", exit_code)
    lines = stdout.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.split("\t") for line in lines]


def parse_maint_status(exit_code: int) -> bool:
    """`maint:status`: True (on) for exit 3, False (off) for 0; anything else is a failure."""
    if exit_code == MAINT_ON_EXIT:
        return True
    _require_success("maint:status", exit_code)
    return False


class LogLine(NamedTuple):
    level: str
    """`error`, `warning`, `notice`, `success` (`info`, `debug` with -v / -vvv)."""
    message: str


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOG = re.compile(r"(?:>[ \t]?)*[ \t]*\[([a-z]+)\](?:[ \t]+(.*?))?[ \t]*")


def parse_log(stderr: str) -> list[LogLine]:
    """Drush's log lines from stderr, in order: ` [level] message`.

    Tolerant as real drush requires (§7): errors as ` [error]  message ` (two spaces, trailing
    space), lines of the update batch prefixed `> `, colour codes. Other stderr text (error
    blocks wrapped at 80 columns, PHP notices) is not a log line and is left out: show stderr
    whole to users, decide by the exit code.
    """
    lines = []
    for raw in _ANSI.sub("", stderr).splitlines():
        m = _LOG.fullmatch(raw.rstrip("\r"))
        if m:
            lines.append(LogLine(m.group(1), m.group(2) or ""))
    return lines


# ---------------------------------------------------------------------------------- secrets

_AFTER_PASSWORD = re.compile(r"(User password:)[^\r\n]*")
_PASS_OPTION = re.compile(r"(--(?:account-pass|db-su-pw|db-password)[= ])('[^']*'|\S+)")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@'\"]*(@)")
_JSON_DB_PASSWORD = re.compile(r'("db-password"\s*:\s*)("(?:[^"\\]|\\.)*")')


def _variants(secret: str) -> set[str]:
    """How a secret may look in captured text: raw, JSON- and PHP-escaped, shell-quoted."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.replace("\\", "\\\\").replace("'", "\\'"),
        shlex.quote(secret),
        secret.replace("'", "'\"'\"'"),
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secret values, before it is shown, logged or journaled.

    Also removed whatever the secrets: the rest of a line after `User password:` (drush's random
    admin password), the values of `--account-pass=` / `--db-su-pw=` / `--db-password=`, of
    `"db-password"` in status JSON and of the password in `scheme://user:password@` URLs.
    """
    variants = {v for s in secrets if s for v in _variants(s) if v}
    for value in sorted(variants, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _AFTER_PASSWORD.sub(rf"\1 {REDACTED}", text)
    text = _PASS_OPTION.sub(rf"\1{REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)
    return _JSON_DB_PASSWORD.sub(rf'\1"{REDACTED}"', text)
