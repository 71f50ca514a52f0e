"""The rules of CONTRACT.md section 2, one case per rule: each names the field and its line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.manifests.loader import check_files
from reconciler.manifests.source import ManifestFile
from unit.builders import Doc, baseline, check, messages, platform, server, site

Change = Callable[[list[Doc]], list[Doc]]


def _with(index: int, **spec: object) -> Change:
    def change(docs: list[Doc]) -> list[Doc]:
        docs[index]["spec"].update(spec)
        return docs

    return change


def _meta(index: int, name: object) -> Change:
    def change(docs: list[Doc]) -> list[Doc]:
        docs[index]["metadata"]["name"] = name
        return docs

    return change


def _add(*extra: Doc) -> Change:
    return lambda docs: [*docs, *extra]


RULES: list[tuple[str, Change, str]] = [
    # envelope
    ("unknown field", _with(2, platfrom="p1"), "spec.platfrom: unknown field 'platfrom'"),
    ("unknown top field", lambda d: [d[0], d[1], {**d[2], "status": {}}], "unknown field 'status'"),
    (
        "unknown version of ours",
        lambda d: [d[0], d[1], {**d[2], "apiVersion": "reconciler/v9"}],
        "unknown apiVersion 'reconciler/v9'",
    ),
    ("unknown kind", lambda d: [d[0], d[1], {**d[2], "kind": "Sight"}], "unknown kind 'Sight'"),
    (
        "missing spec",
        lambda d: [d[0], d[1], {k: v for k, v in d[2].items() if k != "spec"}],
        "required field 'spec' is missing",
    ),
    (
        "labels are strings",
        lambda d: [
            d[0],
            d[1],
            {**d[2], "metadata": {"name": "www.example.com", "labels": {"a": 1}}},
        ],
        "metadata.labels.a: Input should be a valid string",
    ),
    # names
    ("site name upper case", _meta(2, "WWW.example.com"), "is not a lower-case host name"),
    (
        "site name with shell",
        _meta(2, "$(reboot).example.com"),
        "metadata.name: '$(reboot).example.com'",
    ),
    ("server name not a label", _meta(0, "web_1"), "'web_1' is not a DNS label"),
    ("platform name with dot", _meta(1, "p.1"), "'p.1' is not a DNS label"),
    ("name not a string", _meta(2, 12), "metadata.name: Input should be a valid string"),
    # Server fields
    (
        "ssh needs host",
        lambda d: [server(host=None) | {"spec": {"services": {"http": {}}}}, *d[1:]],
        "an ssh server needs `host`",
    ),
    ("bad transport", _with(0, transport="telnet"), "spec.transport: 'telnet' is not allowed here"),
    (
        "port out of range",
        _with(0, port=0),
        "spec.port: Input should be greater than or equal to 1",
    ),
    ("port as text", _with(0, port="22"), "spec.port: Input should be a valid integer"),
    ("user with shell", _with(0, user="aegir;id"), "spec.user: 'aegir;id' is not a valid user"),
    (
        "relative platforms path",
        _with(0, paths={"platforms": "platforms"}),
        "spec.paths.platforms: 'platforms' is not an absolute path",
    ),
    (
        "dotdot backups path",
        _with(0, paths={"backups": "/var/aegir/../../etc"}),
        "spec.paths.backups: '/var/aegir/../../etc' contains '..'",
    ),
    ("host key not a key", _with(0, hostKeys=["not a key"]), "spec.hostKeys[0]: not an OpenSSH"),
    (
        "http type",
        _with(0, services={"http": {"type": "lighttpd"}}),
        "spec.services.http.type: 'lighttpd' is not allowed",
    ),
    ("http port", _with(0, services={"http": {"port": 99999}}), "spec.services.http.port"),
    ("db type", _with(0, services={"db": {"type": "oracle"}}), "spec.services.db.type: 'oracle'"),
    ("concurrency", _with(0, concurrency=0), "spec.concurrency: Input should be greater than"),
    # Platform fields
    ("source missing", lambda d: [d[0], platform(source=None), d[2]], "spec.source"),
    (
        "source both",
        lambda d: [
            d[0],
            platform(source={"existing": True, "git": {"url": "/x", "ref": "a"}}),
            d[2],
        ],
        "a source is either `git` or `existing: true`",
    ),
    (
        "git url injection",
        lambda d: [
            d[0],
            platform(source={"git": {"url": "--upload-pack=id", "ref": "main"}}),
            d[2],
        ],
        "spec.source.git.url",
    ),
    (
        "docroot absolute",
        _with(1, docroot="/web"),
        "spec.docroot: '/web' is not a normalised relative",
    ),
    ("platform state", _with(1, state="gone"), "spec.state: 'gone' is not allowed here"),
    ("build list", _with(1, build="composer install"), "spec.build: Input should be a valid tuple"),
    # Site fields
    (
        "alias with shell",
        _with(2, aliases=["ok.example.com", "a;b.example.com"]),
        "spec.aliases[1]: 'a;b.example.com' is not a lower-case host name",
    ),
    ("alias with backticks", _with(2, aliases=["`id`.example.com"]), "spec.aliases[0]"),
    ("alias with spaces", _with(2, aliases=["a b.example.com"]), "spec.aliases[0]"),
    ("alias with quotes", _with(2, aliases=["'a'.example.com"]), "spec.aliases[0]"),
    ("site state", _with(2, state="deleted"), "spec.state: 'deleted' is not allowed here"),
    ("profile with shell", _with(2, profile="standard;id"), "spec.profile: String should match"),
    ("db user too long", _with(2, db={"user": "u" * 33}), "spec.db.user"),
    (
        "db name bad",
        _with(2, db={"name": "a-b"}),
        "spec.db.name: 'a-b' is not a database identifier",
    ),
    (
        "cron interval",
        _with(2, cron={"interval": "often"}),
        "spec.cron.interval: 'often' is not a duration",
    ),
    ("backup schedule", _with(2, backups={"schedule": "sometimes"}), "spec.backups.schedule"),
    (
        "backup keep negative",
        _with(2, backups={"schedule": "daily", "keep": {"daily": -1}}),
        "spec.backups.keep.daily",
    ),
    ("install email", _with(2, install={"adminEmail": "not-an-email"}), "spec.install.adminEmail"),
    ("install site name newline", _with(2, install={"siteName": "a\nb"}), "spec.install.siteName"),
    ("cloneFrom with shell", _with(2, cloneFrom="$(id)"), "spec.cloneFrom: '$(id)'"),
    # across documents
    ("duplicate site", _add(site()), "Site www.example.com: declared twice (first at m.yaml:"),
    ("duplicate server", _add(server()), "Server web1: declared twice"),
    ("platform.server dangling", _with(1, server="web9"), "spec.server: no Server named 'web9'"),
    ("site.platform dangling", _with(2, platform="p9"), "spec.platform: no Platform named 'p9'"),
    ("db.server dangling", _with(2, db={"server": "db9"}), "spec.db.server: no Server named 'db9'"),
    ("db.server without db", _add(server("web2", services={"http": {}})), ""),
    (
        "cloneFrom dangling",
        _with(2, cloneFrom="nosuch.example.com"),
        "no Site named 'nosuch.example.com'",
    ),
    ("cloneFrom itself", _with(2, cloneFrom="www.example.com"), "cannot be cloned from itself"),
    ("site on absent platform", _with(1, state="absent"), "Platform p1 is declared absent"),
    (
        "alias is another site",
        _add(site("b.example.com", aliases=["www.example.com"])),
        "'www.example.com' is the name of another site",
    ),
    (
        "alias claimed twice",
        lambda d: [
            *d[:2],
            site(aliases=["x.example.com"]),
            site("b.example.com", aliases=["x.example.com"]),
        ],
        "'x.example.com' is already an alias of Site",
    ),
    (
        "alias is own name",
        _with(2, aliases=["www.example.com"]),
        "is listed twice or is the site's own name",
    ),
    (
        "two platforms one path",
        _add(platform("p2", path="/var/aegir/platforms/p1")),
        "is also Platform p1's",
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), RULES, ids=[r[0] for r in RULES])
def test_rule(name: str, change: Change, expected: str) -> None:
    result = check(change(baseline()))
    if not expected:  # a case that must stay valid
        assert result.valid, messages(result)
        return
    assert not result.valid
    found = [p for p in result.errors if expected in p.message]
    assert found, f"{expected!r} not in {messages(result)}"
    assert all(p.hint for p in found), "every error carries a hint"
    assert all(p.line >= 1 and p.column >= 1 for p in found)


def test_db_server_without_db_service_is_refused() -> None:
    docs = [server("web1", services={"http": {}}), platform(), site()]
    result = check(docs)
    assert [p.message for p in result.errors] == [
        "Site www.example.com: its database server web1 has no db service"
    ]


def test_error_points_at_the_line_of_the_field() -> None:
    text = b"""apiVersion: reconciler/v1
kind: Site
metadata:
  name: www.example.com
spec:
  platform: p1
  aliases:
    - good.example.com
    - "bad;name.example.com"
"""
    result = check_files("r", [ManifestFile("sites/www.yaml", text)])
    (problem,) = result.errors
    assert (problem.path, problem.line, problem.column) == ("sites/www.yaml", 9, 7)
    assert "spec.aliases[1]" in problem.message


def test_defaults_of_the_contract() -> None:
    result = check([server(services={"http": {}, "db": {}}), platform(), site()])
    manifests = result.require()
    spec = manifests.servers["web1"].spec
    assert (spec.port, spec.user, spec.concurrency, spec.transport) == (22, "aegir", 2, "ssh")
    assert spec.paths.platforms == "/var/aegir/platforms"
    assert spec.paths.backups == "/var/aegir/backups"
    http = spec.services.http
    assert http is not None
    assert (http.type, http.vhost_dir, http.port, http.group) == (
        "nginx",
        "/etc/nginx/sites-enabled",
        80,
        "www-data",
    )
    assert http.test_command == "sudo -n nginx -t"
    assert http.reload_command == "sudo -n nginx -s reload"
    assert http.fastcgi == "unix:/run/php/php8.2-fpm.sock"
    db = spec.services.db
    assert db is not None
    assert (db.type, db.host, db.port, db.admin_defaults_file) == (
        "mariadb",
        "127.0.0.1",
        3306,
        "~/.my.cnf",
    )
    p1 = manifests.platforms["p1"]
    assert manifests.platform_path(p1) == "/var/aegir/platforms/p1"
    assert (p1.spec.docroot, p1.spec.drush, p1.spec.state, p1.spec.locked) == (
        "web",
        "vendor/bin/drush",
        "present",
        False,
    )
    s = manifests.sites["www.example.com"].spec
    assert (s.profile, s.state, s.redirect_aliases, s.cron.interval) == (
        "standard",
        "present",
        False,
        "1h",
    )
    assert manifests.db_server_of(manifests.sites["www.example.com"]).name == "web1"


def test_root_user_drops_sudo_and_warns() -> None:
    result = check([server(user="root"), platform(), site()])
    http = result.require().servers["web1"].spec.services.http
    assert http is not None
    assert http.test_command == "nginx -t"
    assert http.reload_command == "nginx -s reload"
    assert [w.message for w in result.warnings] == ["Server web1: logging in as root"]


def test_models_are_frozen() -> None:
    manifests = check(baseline()).require()
    with pytest.raises(ValueError, match="frozen"):
        manifests.sites["www.example.com"].spec.state = "absent"  # type: ignore[misc]


def test_other_tools_documents_are_skipped_and_listed() -> None:
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    result = check([*baseline(), other, {"title": "no apiVersion at all"}])
    assert result.valid
    assert result.skipped == ["m.yaml"]
    assert len(result.skipped_documents) == 2


def test_our_kind_without_api_version_is_an_error() -> None:
    doc = site()
    del doc["apiVersion"]
    result = check([*baseline()[:2], doc])
    assert messages(result) == ["Site www.example.com: apiVersion is missing"]


def test_no_documents_at_all_is_an_error() -> None:
    result = check_files("r", [ManifestFile("a.yaml", b"# nothing\n")])
    assert not result.valid
    assert "no manifests found" in messages(result)[0]
    result = check_files("r", [ManifestFile("a.yaml", b"apiVersion: apps/v1\nkind: X\n")])
    assert not result.valid
