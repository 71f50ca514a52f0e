"""`import` as tables of cases over observed servers, and the command on this host (local).

Every case also checks the promise of CONTRACT.md: the imported documents validate beside the
declared ones, and the plan they give once committed holds at most `site.verify` for them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.manifests.loader import check_files
from reconciler.manifests.source import ManifestFile
from reconciler.observe.models import (
    ObservedDatabase,
    ObservedDbServer,
    ObservedModes,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
    ObservedVhost,
)
from reconciler.plan import make_plan
from reconciler.plan.importing import (
    ImportResult,
    database_servers_needed,
    import_json,
    import_server,
    platform_name,
)
from unit import builders as b
from unit.gitrepo import commit, make_repo

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
BASE = "/var/aegir/platforms"
D10 = f"{BASE}/drupal-10"
NAME = "www.example.com"
VHOSTS = "/etc/nginx/sites-enabled"
MODES = ObservedModes(site_dir="0550", settings="0440", files="2770", private="2770")
OWNERS = {k: "aegir:www-data" for k in ("siteDir", "settings", "files", "private")}
AEGIR_DB = ObservedDatabase(dynamic=("driver", "database", "username", "password", "host", "port"))


def db(
    name: str = "legacy_db", user: str = "legacy_u", host: str = "127.0.0.1"
) -> ObservedDatabase:
    return ObservedDatabase("mysql", name, host, 3306, user)


def seen_site(name: str = NAME, base: str = D10, **changes: Any) -> ObservedSite:
    values: dict[str, Any] = {
        "name": name,
        "path": f"{base}/web/sites/{name}",
        "database": db(),
        "modes": MODES,
        "owners": OWNERS,
    }
    return ObservedSite(**{**values, **changes})


def codebase(base: str, *sites: ObservedSite, name: str | None = None) -> ObservedPlatform:
    return ObservedPlatform(name=name, path=base, docroot="web", core_version="10.3.6", sites=sites)


def vhost(
    name: str = NAME,
    base: str = D10,
    *,
    names: tuple[str, ...] = (),
    file: str = "",
    root: bool = True,
) -> ObservedVhost:
    return ObservedVhost(
        path=f"{VHOSTS}/{file or name + '.conf'}",
        size=100,
        mode="0644",
        server_names=(name, *names),
        root=f"{base}/web" if root else None,
    )


def web1(
    *codebases: ObservedPlatform,
    vhosts: tuple[ObservedVhost, ...] = (),
    dbs: tuple[str, ...] = ("legacy_db",),
) -> ObservedServer:
    listing = ObservedDbServer(databases=dict.fromkeys(dbs, 1))
    return ObservedServer(
        name="web1",
        reachable=True,
        user="aegir",
        home="/var/aegir",
        platforms=codebases,
        vhosts=vhosts,
        database_server=listing,
    )


PLAIN = web1(codebase(D10, seen_site()), vhosts=(vhost(),))


def _import(docs: list[b.Doc], *observed: ObservedServer) -> ImportResult:
    manifests = b.check(docs).require()
    return import_server(manifests, {o.name: o for o in observed}, "web1", now=NOW)


def _committed(
    docs: list[b.Doc], result: ImportResult, observed: list[ObservedServer]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Commit the imported documents beside `docs`: they validate; the next observe names the
    codebases after the imported platforms; the plan's actions and notes on what was imported."""
    files = [ManifestFile("m.yaml", b.dump(docs))] + [
        ManifestFile(f"imported/{d.file_name}", d.text.encode()) for d in result.documents
    ]
    loaded = check_files("0" * 40, files)
    assert loaded.valid, [p.render() for p in loaded.errors]
    manifests = loaded.require()
    names = {manifests.platform_path(p): p.name for p in manifests.platforms.values()}
    again = [
        dataclasses.replace(
            server,
            platforms=tuple(
                dataclasses.replace(c, name=names.get(c.path)) for c in server.platforms
            ),
        )
        for server in observed
    ]
    plan = make_plan(manifests, again)
    imported = {d.name for d in result.documents}
    rows: list[tuple[str, str]] = [
        (a.kind, a.object_name) for a in plan.actions if a.object_name in imported
    ]
    notes = [n for n in plan.notes if n.split(":")[0].split(" ", 1)[-1] in imported]
    return rows, notes


def _spec(result: ImportResult, name: str) -> dict[str, Any]:
    doc = next(d for d in result.documents if d.name == name)
    spec: dict[str, Any] = YAML(typ="safe").load(doc.text)["spec"]
    return spec


# case, declared, observed (web1 first), then what is expected:
# {kind name: spec subset} imported, {name: reason part} refused, skipped names,
# the plan's (kind, name) once committed, a note part
Case = tuple[
    str,
    list[b.Doc],
    list[ObservedServer],
    dict[str, dict[str, Any]],
    dict[str, str],
    list[str],
    list[tuple[str, str]],
    str,
]
SQLITE = {"http": {"type": "nginx"}, "db": {"type": "sqlite"}}
CASES: list[Case] = [
    (
        "plain site on an undeclared codebase",
        [b.server()],
        [PLAIN],
        {
            "Platform drupal-10": {
                "server": "web1",
                "path": D10,
                "docroot": "web",
                "source": {"existing": True},
            },
            f"Site {NAME}": {
                "platform": "drupal-10",
                "db": {"name": "legacy_db", "user": "legacy_u"},
            },
        },
        {},
        [],
        [],
        "",
    ),
    (
        "Aegir's credentials in the vhost ($_SERVER): not importable, its platform is",
        [b.server()],
        [web1(codebase(D10, seen_site(database=AEGIR_DB)), vhosts=(vhost(),))],
        {"Platform drupal-10": {"path": D10}},
        {NAME: "move the credentials into settings.php"},
        [],
        [],
        "",
    ),
    (
        "site and platform already declared: nothing to import",
        [
            b.server(),
            b.platform("p1", path=D10),
            b.site(db={"name": "legacy_db", "user": "legacy_u"}),
        ],
        [web1(codebase(D10, seen_site(), name="p1"), vhosts=(vhost(),))],
        {},
        {},
        [NAME],
        [],
        "",
    ),
    (
        "platform already declared: the site goes on it",
        [b.server(), b.platform("p1", path=D10)],
        [web1(codebase(D10, seen_site(), name="p1"), vhosts=(vhost(),))],
        {f"Site {NAME}": {"platform": "p1"}},
        {},
        [],
        [],
        "",
    ),
    (
        "a directory name made a DNS label, and a taken name",
        [b.server(), b.platform("drupal-10-3", "web1", path="/srv/other")],
        [
            web1(
                codebase(f"{BASE}/Drupal_10.3"),
                codebase(f"{BASE}/--Commerce__Kickstart--"),
            )
        ],
        {
            "Platform drupal-10-3-2": {"path": f"{BASE}/Drupal_10.3"},
            "Platform commerce-kickstart": {},
        },
        {},
        [],
        [],
        "",
    ),
    (
        "aliases from a foreign vhost serving only the site's names: verify sets it aside",
        [b.server()],
        [
            web1(
                codebase(D10, seen_site()),
                vhosts=(vhost(names=("example.com",), file="legacy"),),
            )
        ],
        {f"Site {NAME}": {"aliases": ["example.com"]}, "Platform drupal-10": {}},
        {},
        [],
        [("site.verify", NAME)],
        "",
    ),
    (
        "a wildcard and another site's name are no aliases; a shared vhost is left for a split",
        [b.server()],
        [
            web1(
                codebase(D10, seen_site(), seen_site("other.example.com", database=db("o", "o"))),
                vhosts=(
                    vhost(
                        names=("example.com", "*.example.com", "other.example.com"), file="legacy"
                    ),
                    vhost("other.example.com"),
                ),
                dbs=("legacy_db", "o"),
            )
        ],
        {
            f"Site {NAME}": {"aliases": ["example.com"]},
            "Site other.example.com": {},
            "Platform drupal-10": {},
        },
        {},
        [],
        [],
        f"its vhost is not written: {VHOSTS}/legacy serves its names",
    ),
    (
        "the 503 vhost: imported disabled",
        [b.server()],
        [web1(codebase(D10, seen_site()), vhosts=(vhost(root=False),))],
        {f"Site {NAME}": {"state": "disabled"}, "Platform drupal-10": {}},
        {},
        [],
        [],
        "",
    ),
    (
        "drift is a verify with its reason",
        [b.server()],
        [
            web1(codebase(D10, seen_site(modes=dataclasses.replace(MODES, settings="0644")))),
        ],
        {f"Site {NAME}": {}, "Platform drupal-10": {}},
        {},
        [],
        [("site.verify", NAME)],
        "",
    ),
    (
        "credentials written otherwise: the verify rewrites settings.php, and a note says so",
        [b.server()],
        [web1(codebase(D10, seen_site(database=db(host="localhost"))), vhosts=(vhost(),))],
        {f"Site {NAME}": {}, "Platform drupal-10": {}},
        {},
        [],
        [("site.verify", NAME)],
        "the verify rewrites its settings.php as the reconciler writes it (a new database "
        "password and hash salt; nothing else the current one holds is kept): to keep it, "
        "make it name the database as git declares it first (settings.php database host is "
        "localhost, want 127.0.0.1)",
    ),
    (
        "a database on another declared server: db.server",
        [b.server(), b.server("db1", services={"db": {"type": "mariadb", "host": "10.0.0.5"}})],
        [
            web1(codebase(D10, seen_site(database=db(host="10.0.0.5"))), vhosts=(vhost(),), dbs=()),
            ObservedServer("db1", True, database_server=ObservedDbServer({"legacy_db": 1})),
        ],
        {
            f"Site {NAME}": {"db": {"server": "db1", "name": "legacy_db", "user": "legacy_u"}},
            "Platform drupal-10": {},
        },
        {},
        [],
        [],
        "",
    ),
    (
        "a database host no declared server has",
        [b.server()],
        [web1(codebase(D10, seen_site(database=db(host="10.9.9.9"))), vhosts=(vhost(),))],
        {"Platform drupal-10": {}},
        {NAME: "which is no declared Server's services.db"},
        [],
        [],
        "",
    ),
    (
        "a database the listing does not hold",
        [b.server()],
        [web1(codebase(D10, seen_site()), vhosts=(vhost(),), dbs=())],
        {"Platform drupal-10": {}},
        {NAME: "which is not on web1"},
        [],
        [],
        "",
    ),
    (
        "SQLite on an SQLite server",
        [b.server(services=SQLITE)],
        [
            web1(
                codebase(D10, seen_site(database=ObservedDatabase("sqlite", "x"))),
                vhosts=(vhost(),),
            )
        ],
        {f"Site {NAME}": {"db": None}, "Platform drupal-10": {}},
        {},
        [],
        [],
        "",
    ),
    (
        "SQLite against MariaDB",
        [b.server()],
        [
            web1(
                codebase(D10, seen_site(database=ObservedDatabase("sqlite", "x"))),
                vhosts=(vhost(),),
            )
        ],
        {"Platform drupal-10": {}},
        {NAME: "not converted from one engine to another"},
        [],
        [],
        "",
    ),
    (
        "sites/default, a bad name, no database settings, an alias of a declared site",
        [
            b.server(),
            b.platform("p1", path="/srv/p1"),
            b.site("a.example.com", aliases=["alias.example.com"]),
        ],
        [
            web1(
                codebase(
                    D10,
                    seen_site("default"),
                    seen_site("Old_Site"),
                    seen_site("x.example.com", database=None, includes=("local.settings.php",)),
                    seen_site("alias.example.com"),
                )
            )
        ],
        {"Platform drupal-10": {}},
        {
            "default": "Drupal's default site directory",
            "Old_Site": "not a lower-case host name",
            "x.example.com": "holds no database settings (it includes local.settings.php)",
            "alias.example.com": "an alias of Site a.example.com",
        },
        [],
        [],
        "",
    ),
    (
        "unreadable settings.php, another driver, a path a manifest cannot hold",
        [b.server()],
        [
            web1(
                codebase(
                    D10,
                    seen_site("a.example.com", settings_error="larger than 2 MB"),
                    seen_site("b.example.com", database=ObservedDatabase("pgsql", "b")),
                ),
                codebase(
                    f"{BASE}/my platform", seen_site("c.example.com", base=f"{BASE}/my platform")
                ),
            )
        ],
        {"Platform drupal-10": {}},
        {
            "a.example.com": "its settings.php could not be read: larger than 2 MB",
            "b.example.com": "a pgsql database driver",
            "my-platform": "is not an acceptable path",
            "c.example.com": "its platform my-platform cannot be imported",
        },
        [],
        [],
        "",
    ),
    (
        "two copies: the one the vhost serves is imported",
        [b.server()],
        [
            web1(
                codebase(f"{BASE}/a", seen_site(base=f"{BASE}/a")),
                codebase(f"{BASE}/b", seen_site(base=f"{BASE}/b")),
                vhosts=(vhost(base=f"{BASE}/b"),),
            )
        ],
        {f"Site {NAME}": {"platform": "b"}, "Platform a": {}, "Platform b": {}},
        {NAME: f"at {BASE}/b/web/sites/{NAME}, is imported"},
        [],
        [],
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "docs", "observed", "imported", "refused", "skipped", "actions", "note"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_import(
    case: str,
    docs: list[b.Doc],
    observed: list[ObservedServer],
    imported: dict[str, dict[str, Any]],
    refused: dict[str, str],
    skipped: list[str],
    actions: list[tuple[str, str]],
    note: str,
) -> None:
    result = _import(docs, *observed)
    assert {f"{d.kind} {d.name}" for d in result.documents} == set(imported), case
    for key, subset in imported.items():
        spec = _spec(result, key.split(" ", 1)[1])
        assert {k: spec.get(k) for k in subset} == subset, spec
    assert {f.name: f.reason for f in result.refused}.keys() == refused.keys(), result.refused
    for finding in result.refused:
        assert refused[finding.name] in finding.reason, finding.reason
    assert [f.name for f in result.skipped if f.kind == "Site"] == skipped
    assert [(a.kind, a.object_name) for a in result.plan] == actions
    assert note in " ".join(result.notes), result.notes
    rows, notes = _committed(docs, result, observed)
    assert rows == actions
    # what is left: another copy of a site, or a vhost file to split by hand (the note above)
    left = [n for n in notes if "another copy" not in n and "its vhost is not written" not in n]
    assert left == []


@pytest.mark.parametrize(
    ("directory", "taken", "name"),
    [
        ("drupal-10", [], "drupal-10"),
        ("Drupal_10.3.6", [], "drupal-10-3-6"),
        ("__", [], "platform"),
        ("d10", ["d10", "d10-2"], "d10-3"),
        ("x" * 70, [], "x" * 63),
        ("x" * 70, ["x" * 63], "x" * 61 + "-2"),
        ("a-" + "b" * 60 + "-c", [], "a-" + "b" * 60),
        ("a-" + "b" * 58 + "-cc", ["a-" + "b" * 58 + "-cc"], "a-" + "b" * 58 + "-2"),
    ],
)
def test_platform_name(directory: str, taken: list[str], name: str) -> None:
    assert platform_name(directory, taken) == name
    assert len(name) <= 63


def test_database_servers_needed() -> None:
    docs = [
        b.server(),
        b.server("db1", services={"db": {"type": "mariadb", "host": "10.0.0.5"}}),
        b.server("db2", services={"db": {"type": "mariadb", "host": "10.0.0.6"}}),
    ]
    observed = web1(
        codebase(
            D10,
            seen_site("a.example.com", database=db(host="10.0.0.5")),
            seen_site("b.example.com"),
            seen_site("c.example.com", database=AEGIR_DB),
        )
    )
    assert database_servers_needed(b.check(docs).require(), "web1", observed) == ["db1"]


def test_documents_header_json_and_an_unobserved_server() -> None:
    result = _import([b.server()], PLAIN)
    site = next(d for d in result.documents if d.kind == "Site")
    assert site.file_name == f"site-{NAME}.yaml"
    assert site.text.startswith(
        "# Imported by `reconciler import web1` on 2025-03-04T05:06:07Z: a site git did not"
    )
    assert "database legacy_db (user legacy_u) adopted" in site.text
    data = import_json(result, {site.file_name: f"/out/{site.file_name}"})
    assert [d["file"] for d in data["documents"]] == [
        "platform-drupal-10.yaml",
        f"/out/site-{NAME}.yaml",
    ]
    assert data["server"] == "web1" and data["notImportable"] == [] and data["plan"] == []
    down = ObservedServer("web1", False, error="connection refused")
    with pytest.raises(ValueError, match="not observed"):
        _import([b.server()], down)


def test_an_action_other_than_verify_refuses_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: if the plan held an install for an imported site, it is not imported."""
    import reconciler.plan.importing as importing
    from reconciler.plan.model import Action, Plan

    def planned(manifests: Any, observed: Any, **_: Any) -> Plan:
        install = Action("site.install:x", "site.install", "Site", NAME, "web1", "why not")
        return Plan("0", actions=(install,) if NAME in manifests.sites else ())

    monkeypatch.setattr(importing, "make_plan", planned)
    result = _import([b.server()], PLAIN)
    assert [d.name for d in result.documents] == ["drupal-10"]
    assert [(f.name, f.reason) for f in result.refused] == [
        (NAME, "once committed, the plan would hold site.install for it (why not)")
    ]


# ---------------------------------------------------------------- the command, on this host


def _server_yaml(base: Path) -> str:
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: here}}
spec:
  transport: local
  paths: {{platforms: {base}/platforms, backups: {base}/backups}}
  services:
    http: {{type: nginx, vhostDir: {base}/vhosts}}
    db: {{type: sqlite}}
"""


def _fake_site(base: Path, name: str, settings: str) -> None:
    core = base / "platforms/Std_10.3/web/core/lib"
    core.mkdir(parents=True, exist_ok=True)
    (core / "Drupal.php").write_text("<?php\nclass Drupal {\n  const VERSION = '10.3.6';\n}\n")
    site = base / "platforms/Std_10.3/web/sites" / name
    (site / "files").mkdir(parents=True)
    (site / "private").mkdir()
    (site / "settings.php").write_text(settings)


SQLITE_SETTINGS = (
    "<?php\n$databases['default']['default'] = ['driver' => 'sqlite', 'database' => 'x'];\n"
)
AEGIR_SETTINGS = (
    "<?php\nif (isset($_SERVER['db_name'])) {\n  $databases['default']['default'] = [\n"
    "    'driver' => $_SERVER['db_type'], 'database' => $_SERVER['db_name'],\n"
    "    'username' => $_SERVER['db_user'], 'password' => $_SERVER['db_passwd'],\n"
    "    'host' => $_SERVER['db_host'], 'port' => $_SERVER['db_port'],\n  ];\n}\n"
)


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_the_command_on_this_host(tmp_path: Path) -> None:
    base = tmp_path / "host"
    for d in ("vhosts", "backups"):
        (base / d).mkdir(parents=True)
    _fake_site(base, "a.example.com", SQLITE_SETTINGS)
    _fake_site(base, "aegir.example.com", AEGIR_SETTINGS)
    repo = make_repo(tmp_path / "repo", {"servers/here.yaml": _server_yaml(base).encode()})

    unknown = _cli(repo, "import", "nope")
    assert unknown.returncode == 1
    assert "Server nope is not declared in git" in unknown.stderr
    assert "commit a Server manifest for it first" in unknown.stderr

    printed = _cli(repo, "import", "here")
    assert printed.returncode == 1, printed.stderr  # aegir.example.com is not importable
    docs = list(YAML(typ="safe").load_all(printed.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Platform", "std-10-3"),
        ("Site", "a.example.com"),
    ]
    assert "Imported from here: 1 platform, 1 site (printed on stdout)." in printed.stderr
    assert "Not importable (1):" in printed.stderr
    assert "move the credentials into settings.php" in printed.stderr

    out = tmp_path / "out"
    written = _cli(repo, "import", "here", "--out", str(out), "--format", "json")
    assert written.returncode == 1, written.stderr
    data = json.loads(written.stdout)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["platform-std-10-3.yaml", "site-a.example.com.yaml"]
    assert [d["file"] for d in data["documents"]] == [str(out / f) for f in files]
    assert [f["name"] for f in data["notImportable"]] == ["aegir.example.com"]
    before = (out / files[0]).read_text()

    again = _cli(repo, "import", "here", "--out", str(out))
    assert again.returncode == 1
    assert f"{out / files[0]} already exists" in again.stderr
    assert (out / files[0]).read_text() == before

    (base / "platforms/Std_10.3/web/sites/aegir.example.com/settings.php").unlink()
    commit(repo, {f"imported/{f}": (out / f).read_bytes() for f in files}, "import here")
    valid = _cli(repo, "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    nothing = _cli(repo, "import", "here")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == ""
    assert "Nothing to import from here" in nothing.stderr
