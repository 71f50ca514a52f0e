"""Each value rule of the manifests, as a table of accepted and refused values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from reconciler.manifests import names

SHELL_NASTIES = ["$(id)", "a;b", "`id`", "a b", "a'b", 'a"b', "a|b", "a&b", "a>b", "a\nb"]

CASES: list[tuple[Any, Any, bool]] = [
    # site names: lower-case RFC 1123 host names, at most 253 characters, labels at most 63
    (names.SiteName, "www.example.com", True),
    (names.SiteName, "localhost", True),
    (names.SiteName, "a-b.c1.example", True),
    (names.SiteName, "Example.com", False),
    (names.SiteName, "-a.example.com", False),
    (names.SiteName, "a-.example.com", False),
    (names.SiteName, "a..b", False),
    (names.SiteName, "a.example.com.", False),
    (names.SiteName, "under_score.com", False),
    (names.SiteName, "x" * 63 + ".com", True),
    (names.SiteName, "x" * 64 + ".com", False),
    (names.SiteName, ".".join(["a" * 61] * 4) + ".b", True),
    (names.SiteName, ".".join(["a" * 62] * 4) + ".bc", False),
    (names.SiteName, 42, False),
    # other names: DNS labels
    (names.DnsLabel, "web1", True),
    (names.DnsLabel, "d10-3", True),
    (names.DnsLabel, "web.1", False),
    (names.DnsLabel, "Web1", False),
    (names.DnsLabel, "a" * 63, True),
    (names.DnsLabel, "a" * 64, False),
    # absolute paths: normalised, no '..', safe characters; '~/' is the login user's home
    (names.AbsPath, "/var/aegir/platforms", True),
    (names.AbsPath, "~/reconciler-demo/platforms", True),
    (names.AbsPath, "var/aegir", False),
    (names.AbsPath, "/var/aegir/", False),
    (names.AbsPath, "/var//aegir", False),
    (names.AbsPath, "/var/./aegir", False),
    (names.AbsPath, "/var/../etc", False),
    (names.AbsPath, "~root/x", False),
    # relative paths inside a codebase
    (names.RelPath, "web", True),
    (names.RelPath, ".", True),
    (names.RelPath, "vendor/bin/drush", True),
    (names.RelPath, "/web", False),
    (names.RelPath, "../web", False),
    (names.RelPath, "web/", False),
    # ports
    (names.Port, 22, True),
    (names.Port, 65535, True),
    (names.Port, 0, False),
    (names.Port, 65536, False),
    (names.Port, "22", False),
    # network hosts
    (names.NetHost, "127.0.0.1", True),
    (names.NetHost, "db1.example.net", True),
    (names.NetHost, "::1", True),
    (names.NetHost, "db 1!", False),
    (names.NetHost, "db1;id", False),
    # git
    (names.GitUrl, "https://git.example.net/a/b.git", True),
    (names.GitUrl, "git@git.example.net:a/b.git", True),
    (names.GitUrl, "/srv/git/standin.git", True),
    (names.GitUrl, "--upload-pack=touch /tmp/x", False),
    (names.GitUrl, "ext::sh -c id", False),
    (names.GitRef, "10.3.6", True),
    (names.GitRef, "feature/x", True),
    (names.GitRef, "-f", False),
    (names.GitRef, "a..b", False),
    (names.GitRef, "a.lock", False),
    # durations and schedules
    (names.Duration, "1h", True),
    (names.Duration, 0, True),
    (names.Duration, "90", True),
    (names.Duration, "soon", False),
    (names.CronSchedule, "daily", True),
    (names.CronSchedule, "15 3 * * 1-5", True),
    (names.CronSchedule, "* * *", False),
    # host keys, FastCGI addresses, user names, database identifiers
    (names.HostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ+x/y= host", True),
    (names.HostKey, "AAAAC3NzaC1lZDI1NTE5", False),
    (names.FastcgiAddress, "unix:/run/php/php8.2-fpm.sock", True),
    (names.FastcgiAddress, "127.0.0.1:9000", True),
    (names.FastcgiAddress, "php-fpm", False),
    (names.PosixName, "aegir", True),
    (names.PosixName, "www-data", True),
    (names.PosixName, "Aegir", False),
    (names.DbIdentifier, "www_example_com_0a1b2c3d", True),
    (names.DbIdentifier, "a-b", False),
]
CASES += [
    (t, v, False) for t in (names.SiteName, names.DnsLabel, names.AbsPath) for v in SHELL_NASTIES
]
CASES += [(names.GitRef, v, False) for v in SHELL_NASTIES]


@pytest.mark.parametrize(("kind", "value", "ok"), CASES)
def test_value_rules(kind: Any, value: Any, ok: bool) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    if ok:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError) as info:
            adapter.validate_python(value)
        error = info.value.errors()[0]
        if error["type"] not in (
            "int_type",
            "string_type",
            "greater_than_equal",
            "less_than_equal",
        ):
            assert error.get("ctx", {}).get("hint"), f"no hint for {value!r}"


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("www.example.com", "www_example_com_" + "80fc0fb9"),
        ("a-very-long-site-name.with.many.labels.example.org", None),
    ],
)
def test_database_name_rule(site: str, expected: str | None) -> None:
    import hashlib

    name = names.database_name(site)
    digest = hashlib.sha256(site.encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() and c.isascii() and not c.isupper() else "_" for c in site)[:23]
    assert name == f"{stem}_{digest}"
    assert len(name) <= 32
    if expected is not None:
        assert name == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60", 60), ("60s", 60), ("5m", 300), ("1h", 3600), ("2d", 172800), (0, 0)],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert names.parse_duration(text) == seconds
