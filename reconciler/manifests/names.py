"""Value rules for manifest fields: names, host names, paths, refs, durations, database names.

Every rule is a pure function raising `PydanticCustomError` whose context carries a `hint`: the
validation layer prints it after the message. The rules are strict on purpose: anything that
reaches a remote shell is quoted anyway, but values that could not be safe are refused here, at
validation, with the field named.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

__all__ = [
    "DNS_LABEL_MAX",
    "SITE_NAME_MAX",
    "AbsPath",
    "CronSchedule",
    "DbIdentifier",
    "DbUser",
    "DnsLabel",
    "Duration",
    "FastcgiAddress",
    "GitRef",
    "GitUrl",
    "HostKey",
    "HostName",
    "NetHost",
    "Port",
    "PosixName",
    "RelPath",
    "SafeText",
    "SiteName",
    "database_name",
    "parse_duration",
]

DNS_LABEL_MAX = 63
SITE_NAME_MAX = 253

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_IPV4_RE = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
)
_IPV6_RE = re.compile(r"^[0-9a-fA-F:]+(?:%[a-z0-9]+)?$")
_PATH_CHARS_RE = re.compile(r"^[A-Za-z0-9._/@+=,:-]+$")
_POSIX_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_DB_IDENT_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_GIT_REF_RE = re.compile(r"^[A-Za-z0-9._/+@-]+$")
_SCP_URL_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~+-]+$")
_SCHEME_URL_RE = re.compile(r"^(?:https|http|ssh|git|file)://[A-Za-z0-9._~:/@%+-]+$")
_HOST_KEY_RE = re.compile(
    r"^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}(?: [^\x00-\x1f]*)?$"
)
_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d)?$")
_CRON_FIELD_RE = re.compile(r"^[0-9*,/\-A-Za-z]+$")
_SHELL_META = set("$`;&|<>()\\\"' \t\n\r*?[]{}!#~")


def _fail(kind: str, message: str, hint: str, **ctx: object) -> PydanticCustomError:
    """An error whose message and hint are rendered here (values may hold braces)."""
    rendered = message.format(**ctx).replace("{", "(").replace("}", ")")
    return PydanticCustomError(kind, rendered, {"hint": hint.format(**ctx)})


def _unsafe_chars(value: str) -> str:
    bad = sorted({c for c in value if c in _SHELL_META or ord(c) < 32})
    return "".join(bad)


def _check_site_name(value: str) -> str:
    if len(value) > SITE_NAME_MAX or not _HOST_RE.match(value):
        bad = _unsafe_chars(value)
        detail = f" (it contains {bad!r})" if bad else ""
        raise _fail(
            "site_name",
            "{value!r} is not a lower-case host name{detail}",
            "use the site's primary domain: lower-case letters, digits and '-' in dot-separated "
            "labels of at most 63 characters, e.g. www.example.com",
            value=value,
            detail=detail,
        )
    return value


def _check_dns_label(value: str) -> str:
    if not _LABEL_RE.match(value):
        bad = _unsafe_chars(value)
        detail = f" (it contains {bad!r})" if bad else ""
        raise _fail(
            "dns_label",
            "{value!r} is not a DNS label{detail}",
            "use 1-63 lower-case letters, digits and '-', starting and ending with a letter or "
            "digit, e.g. web1",
            value=value,
            detail=detail,
        )
    return value


def _check_net_host(value: str) -> str:
    if value == "localhost" or _IPV4_RE.match(value) or _HOST_RE.match(value.lower()):
        return value
    if ":" in value and _IPV6_RE.match(value):
        return value
    raise _fail(
        "net_host",
        "{value!r} is not a host name or IP address",
        "write a host name such as db1.example.net or an address such as 10.0.0.5",
        value=value,
    )


def _check_path(value: str, *, absolute: bool) -> str:
    if not value or not _PATH_CHARS_RE.match(value.removeprefix("~/")):
        raise _fail(
            "path_chars",
            "{value!r} is not an acceptable path",
            "use letters, digits and . _ / @ + = , : - only "
            "(no spaces, quotes or shell characters)",
            value=value,
        )
    parts = value.split("/")
    if ".." in parts:
        raise _fail(
            "path_dotdot", "{value!r} contains '..'", "write the path without '..'", value=value
        )
    if absolute:
        home = value.startswith("~/")
        body = value[1:] if home else value
        if not body.startswith("/"):
            raise _fail(
                "path_absolute",
                "{value!r} is not an absolute path",
                "start it with '/' (or '~/' for the login user's home on that server)",
                value=value,
            )
        if posixpath.normpath(body) != body:
            raise _fail(
                "path_normal",
                "{value!r} is not normalised",
                "write it as {norm!r}",
                value=value,
                norm=("~" if home else "") + posixpath.normpath(body),
            )
    else:
        if value.startswith(("/", "~")) or (value != "." and posixpath.normpath(value) != value):
            raise _fail(
                "path_relative",
                "{value!r} is not a normalised relative path",
                "write a path relative to the codebase, without a leading '/', e.g. web",
                value=value,
            )
    return value


def _check_abs_path(value: str) -> str:
    return _check_path(value, absolute=True)


def _check_rel_path(value: str) -> str:
    return _check_path(value, absolute=False)


def _check_posix_name(value: str) -> str:
    if not _POSIX_NAME_RE.match(value):
        raise _fail(
            "posix_name",
            "{value!r} is not a valid user or group name",
            "use lower-case letters, digits, '_' and '-', starting with a letter or '_'",
            value=value,
        )
    return value


def _check_db_identifier(value: str) -> str:
    if not _DB_IDENT_RE.match(value):
        raise _fail(
            "db_identifier",
            "{value!r} is not a database identifier this tool accepts",
            "use 1-64 letters, digits and '_'",
            value=value,
        )
    return value


def _check_db_user(value: str) -> str:
    _check_db_identifier(value)
    if len(value) > 32:
        raise _fail(
            "db_user",
            "{value!r} is longer than 32 characters",
            "MySQL limits user names to 32 characters; use a shorter name",
            value=value,
        )
    return value


def _check_git_ref(value: str) -> str:
    if (
        not _GIT_REF_RE.match(value)
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".lock", "."))
        or ".." in value
        or "//" in value
        or "@{" in value
    ):
        raise _fail(
            "git_ref",
            "{value!r} is not a git branch, tag or commit name",
            "write a branch or tag name such as 10.3.6 or main, or a commit id",
            value=value,
        )
    return value


def _check_git_url(value: str) -> str:
    if value.startswith("-"):
        raise _fail("git_url", "{value!r} starts with '-'", "write a URL or path", value=value)
    if _SCHEME_URL_RE.match(value) or _SCP_URL_RE.match(value):
        return value
    if value.startswith(("/", "~/")):
        return _check_abs_path(value)
    raise _fail(
        "git_url",
        "{value!r} is not a git URL this tool accepts",
        "use https://host/path.git, ssh://user@host/path.git, user@host:path.git, or an "
        "absolute path on the platform's server",
        value=value,
    )


def _check_host_key(value: str) -> str:
    if not _HOST_KEY_RE.match(value.strip()):
        raise _fail(
            "host_key",
            "not an OpenSSH public host key line",
            "paste the line from the server's /etc/ssh/ssh_host_ed25519_key.pub, e.g. "
            "'ssh-ed25519 AAAAC3Nza...' (ssh-keyscan -t ed25519 HOST prints it)",
        )
    return value.strip()


def _check_fastcgi(value: str) -> str:
    if value.startswith("unix:"):
        _check_abs_path(value.removeprefix("unix:"))
        return value
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and 0 < int(port) < 65536:
        _check_net_host(host)
        return value
    raise _fail(
        "fastcgi",
        "{value!r} is not a FastCGI address",
        "write unix:/run/php/php8.2-fpm.sock or 127.0.0.1:9000",
        value=value,
    )


def _check_safe_text(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > 255:
        raise _fail(
            "safe_text",
            "text of at most 255 characters without control characters is expected",
            "write it on one line",
        )
    return value


def parse_duration(value: str | int) -> int:
    """Seconds in a duration: `60`, `60s`, `5m`, `1h`, `2d`, or `0`."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 5m")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    match = _DURATION_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration")
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _check_duration(value: str | int) -> str | int:
    try:
        parse_duration(value)
    except ValueError:
        raise _fail(
            "duration",
            "{value!r} is not a duration",
            "write seconds as a number, or a number with s, m, h or d: 90, 30s, 15m, 1h, 1d",
            value=str(value),
        ) from None
    return value


def _check_cron(value: str) -> str:
    if value in ("hourly", "daily", "weekly", "monthly"):
        return value
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise _fail(
            "cron",
            "{value!r} is not a schedule",
            "write hourly, daily, weekly, or a five-field cron expression such as '15 3 * * *'",
            value=value,
        )
    return value


def database_name(site_name: str) -> str:
    """The database (and database user) name derived from a site name, as CONTRACT.md states."""
    stem = re.sub(r"[^a-z0-9]", "_", site_name)[:23]
    return f"{stem}_{hashlib.sha256(site_name.encode()).hexdigest()[:8]}"


SiteName = Annotated[
    StrictStr,
    AfterValidator(_check_site_name),
    Field(json_schema_extra={"pattern": f"^{_LABEL}(\\.{_LABEL})*$", "maxLength": SITE_NAME_MAX}),
]
HostName = SiteName
DnsLabel = Annotated[
    StrictStr, AfterValidator(_check_dns_label), Field(json_schema_extra={"pattern": f"^{_LABEL}$"})
]
NetHost = Annotated[StrictStr, AfterValidator(_check_net_host)]
AbsPath = Annotated[StrictStr, AfterValidator(_check_abs_path)]
RelPath = Annotated[StrictStr, AfterValidator(_check_rel_path)]
PosixName = Annotated[StrictStr, AfterValidator(_check_posix_name)]
DbIdentifier = Annotated[StrictStr, AfterValidator(_check_db_identifier)]
DbUser = Annotated[StrictStr, AfterValidator(_check_db_user)]
GitRef = Annotated[StrictStr, AfterValidator(_check_git_ref)]
GitUrl = Annotated[StrictStr, AfterValidator(_check_git_url)]
HostKey = Annotated[StrictStr, AfterValidator(_check_host_key)]
FastcgiAddress = Annotated[StrictStr, AfterValidator(_check_fastcgi)]
SafeText = Annotated[StrictStr, AfterValidator(_check_safe_text)]
Duration = Annotated[StrictStr | StrictInt, AfterValidator(_check_duration)]
CronSchedule = Annotated[StrictStr, AfterValidator(_check_cron)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
