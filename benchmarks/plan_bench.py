"""Plan time against the number of declared sites, from a saved observed state.

    python benchmarks/plan_bench.py [--sizes 1000 10000] [--repeat 3]

For each size N: a manifest set of N sites over 4 servers and 8 platforms (built from documents
the way the loader builds them, without the YAML parsing), and the observed state of servers
holding every site, in sync except 10% with drift (settings.php mode, missing vhost, disabled
vhost, database not listed). The observed state is saved to a JSON file (the `observe --format
json` keys) and loaded back; `make_plan` is then timed on what was loaded, best of `--repeat`.
Prints seconds, µs per site and the ratio of the largest to the smallest size (linear: the ratio
of the sizes). No server is needed; it runs in seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.manifests.document import check_document
from reconciler.manifests.manifestset import ManifestSet, build_manifest_set
from reconciler.manifests.models import Document
from reconciler.manifests.names import database_name
from reconciler.manifests.yamldoc import RawDocument
from reconciler.observe.models import (
    ObservedBackup,
    ObservedDatabase,
    ObservedDbServer,
    ObservedModes,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
    ObservedVhost,
)
from reconciler.plan import Plan, make_plan

SERVERS = 4
PLATFORMS_PER_SERVER = 2
DRIFT_EVERY = 10
"""One site in DRIFT_EVERY is drifted (10%)."""

PLATFORMS_ROOT = "/var/aegir/platforms"
VHOST_DIR = "/etc/nginx/sites-enabled"
GOOD = ObservedModes(site_dir="0550", settings="0440", files="2770", private="2770")
OWNERS = {key: "aegir:www-data" for key in ("siteDir", "settings", "files", "private")}
DRIFTS = ("settings mode", "vhost missing", "vhost disabled", "database not listed")


def _site_name(i: int) -> str:
    return f"s{i:05d}.bench.example.com"


def _server_name(i: int) -> str:
    return f"web{i + 1}"


def _platform_name(i: int) -> str:
    return f"p{i + 1}"


def _platform_of(i: int) -> int:
    return i % (SERVERS * PLATFORMS_PER_SERVER)


def _drift_of(i: int) -> str | None:
    return DRIFTS[(i // DRIFT_EVERY) % len(DRIFTS)] if i % DRIFT_EVERY == 0 else None


# ---------------------------------------------------------------- declared


def _documents(sites: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for s in range(SERVERS):
        docs.append(
            {
                "apiVersion": "reconciler/v1",
                "kind": "Server",
                "metadata": {"name": _server_name(s)},
                "spec": {
                    "host": f"{_server_name(s)}.example.net",
                    "services": {"http": {"type": "nginx"}, "db": {"type": "mariadb"}},
                },
            }
        )
    for p in range(SERVERS * PLATFORMS_PER_SERVER):
        docs.append(
            {
                "apiVersion": "reconciler/v1",
                "kind": "Platform",
                "metadata": {"name": _platform_name(p)},
                "spec": {
                    "server": _server_name(p // PLATFORMS_PER_SERVER),
                    "source": {"git": {"url": "https://git.example.net/d.git", "ref": "10.3.6"}},
                },
            }
        )
    for i in range(sites):
        docs.append(
            {
                "apiVersion": "reconciler/v1",
                "kind": "Site",
                "metadata": {"name": _site_name(i)},
                "spec": {"platform": _platform_name(_platform_of(i))},
            }
        )
    return docs


def build_manifests(sites: int) -> ManifestSet:
    """The documents checked one by one, then across documents, as the loader does."""
    entries: list[tuple[RawDocument, Document]] = []
    for index, data in enumerate(_documents(sites)):
        raw = RawDocument("bench.yaml", index, data, None, index + 1, 1)
        checked = check_document(raw)
        assert checked.model is not None, checked.problems
        entries.append((raw, checked.model))
    manifests, problems, _ = build_manifest_set("0" * 40, entries)
    assert not problems, problems[:3]
    return manifests


# ---------------------------------------------------------------- observed


def _observed_site(i: int, base: str) -> ObservedSite:
    name = _site_name(i)
    db = database_name(name)
    modes = GOOD
    if _drift_of(i) == "settings mode":
        modes = ObservedModes(site_dir="0550", settings="0644", files="2770", private="2770")
    return ObservedSite(
        name=name,
        path=f"{base}/web/sites/{name}",
        database=ObservedDatabase("mysql", db, "127.0.0.1", 3306, db),
        modes=modes,
        owners=dict(OWNERS),
        files_bytes=4096,
    )


def _vhost(i: int, base: str) -> ObservedVhost | None:
    drift = _drift_of(i)
    if drift == "vhost missing":
        return None
    name = _site_name(i)
    root = None if drift == "vhost disabled" else f"{base}/web"
    return ObservedVhost(f"{VHOST_DIR}/{name}.conf", 600, "0644", (name,), root)


def build_observed(sites: int) -> list[ObservedServer]:
    """Every declared site on its platform: a server each holding its share."""
    per_platform: list[list[int]] = [[] for _ in range(SERVERS * PLATFORMS_PER_SERVER)]
    for i in range(sites):
        per_platform[_platform_of(i)].append(i)
    servers: list[ObservedServer] = []
    for s in range(SERVERS):
        codebases: list[ObservedPlatform] = []
        vhosts: list[ObservedVhost] = []
        databases: dict[str, int] = {}
        users: list[tuple[str, str]] = []
        for p in range(s * PLATFORMS_PER_SERVER, (s + 1) * PLATFORMS_PER_SERVER):
            base = f"{PLATFORMS_ROOT}/{_platform_name(p)}"
            held = per_platform[p]
            codebases.append(
                ObservedPlatform(
                    _platform_name(p),
                    base,
                    "web",
                    "10.3.6",
                    tuple(_observed_site(i, base) for i in held),
                )
            )
            for i in held:
                vhost = _vhost(i, base)
                if vhost is not None:
                    vhosts.append(vhost)
                db = database_name(_site_name(i))
                users += [(db, "localhost"), (db, "127.0.0.1")]
                if _drift_of(i) != "database not listed":
                    databases[db] = 1_048_576
        servers.append(
            ObservedServer(
                name=_server_name(s),
                reachable=True,
                user="aegir",
                home="/var/aegir",
                platforms=tuple(codebases),
                vhosts=tuple(vhosts),
                database_server=ObservedDbServer(databases, tuple(users)),
            )
        )
    return servers


# ---------------------------------------------------------------- saved and loaded back


def _site_from_json(d: dict[str, Any]) -> ObservedSite:
    db = d["database"]
    m = d["modes"]
    return ObservedSite(
        name=d["name"],
        path=d["path"],
        database=None
        if db is None
        else ObservedDatabase(
            db["driver"], db["name"], db["host"], db["port"], db["username"], tuple(db["dynamic"])
        ),
        modes=ObservedModes(m["siteDir"], m["settings"], m["files"], m["private"]),
        owners=dict(d["owners"]),
        files_bytes=d["filesBytes"],
        private_bytes=d["privateBytes"],
        settings_error=d["settingsError"],
        includes=tuple(d["includes"]),
    )


def _platform_from_json(d: dict[str, Any]) -> ObservedPlatform:
    return ObservedPlatform(
        name=d["name"],
        path=d["path"],
        docroot=d["docroot"],
        core_version=d["coreVersion"],
        sites=tuple(_site_from_json(s) for s in d["sites"]),
        exists=d["exists"],
    )


def server_from_json(d: dict[str, Any]) -> ObservedServer:
    """An `ObservedServer` from its JSON (the inverse of `as_json`)."""
    dbs = d["databaseServer"]
    return ObservedServer(
        name=d["name"],
        reachable=d["reachable"],
        error=d["error"],
        user=d["user"],
        home=d["home"],
        platforms=tuple(_platform_from_json(p) for p in d["platforms"]),
        vhosts=tuple(
            ObservedVhost(v["path"], v["size"], v["mode"], tuple(v["serverNames"]), v["root"])
            for v in d["vhosts"]
        ),
        backups=tuple(
            ObservedBackup(b["id"], b["site"], b["path"], b["size"], b["time"], b["mode"])
            for b in d["backups"]
        ),
        database_server=None
        if dbs is None
        else ObservedDbServer(
            dict(dbs["databases"]),
            tuple((user, host) for user, host in dbs["users"]),
            dbs["error"],
        ),
        problems=tuple(d["problems"]),
    )


def save_observed(servers: list[ObservedServer], path: Path) -> None:
    path.write_text(json.dumps({"servers": [s.as_json() for s in servers]}))


def load_observed(path: Path) -> list[ObservedServer]:
    return [server_from_json(s) for s in json.loads(path.read_text())["servers"]]


# ---------------------------------------------------------------- timing


def _expected_actions(sites: int) -> int:
    return sum(1 for i in range(sites) if _drift_of(i) is not None)


def measure(sites: int, repeat: int, where: Path) -> dict[str, Any]:
    manifests = build_manifests(sites)
    saved = where / f"observed-{sites}.json"
    built = build_observed(sites)
    save_observed(built, saved)
    started = time.perf_counter()
    observed = load_observed(saved)
    load_s = time.perf_counter() - started
    if observed != built:
        raise SystemExit("the observed state loaded back differs from the one saved")
    times: list[float] = []
    plan: Plan | None = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        plan = make_plan(manifests, observed)
        times.append(time.perf_counter() - started)
    assert plan is not None
    want = _expected_actions(sites)
    if len(plan.actions) != want:
        raise SystemExit(f"{sites} sites: {len(plan.actions)} actions planned, expected {want}")
    best = min(times)
    return {
        "sites": sites,
        "actions": len(plan.actions),
        "saved_bytes": saved.stat().st_size,
        "load_s": load_s,
        "plan_s": best,
        "us_per_site": best / sites * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], metavar="N")
    parser.add_argument("--repeat", type=int, default=3, metavar="K", help="best of K")
    args = parser.parse_args(argv)
    sizes: list[int] = sorted(args.sizes)
    print(
        f"make_plan from a saved observed state: {SERVERS} servers, "
        f"{SERVERS * PLATFORMS_PER_SERVER} platforms, 1 site in {DRIFT_EVERY} drifted; "
        f"best of {args.repeat}"
    )
    print(f"{'sites':>7} {'actions':>8} {'saved MB':>9} {'load s':>7} {'plan s':>8} {'µs/site':>8}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        for n in sizes:
            row = measure(n, args.repeat, Path(tmp))
            rows.append(row)
            print(
                f"{row['sites']:>7} {row['actions']:>8} {row['saved_bytes'] / 1e6:>9.1f} "
                f"{row['load_s']:>7.2f} {row['plan_s']:>8.3f} {row['us_per_site']:>8.1f}"
            )
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        ratio = large["plan_s"] / small["plan_s"]
        linear = large["sites"] / small["sites"]
        print(
            f"ratio {large['sites']}/{small['sites']} sites: {ratio:.1f} "
            f"(linear ≈ {linear:.0f}; µs/site x{large['us_per_site'] / small['us_per_site']:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
