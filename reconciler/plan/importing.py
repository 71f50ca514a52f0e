"""`import`: the Platform and Site manifests for what one server holds that git does not declare.

Pure: the manifests already declared and the observed state in; the documents to write (YAML
with a comment header saying they were imported, from which server, when), what could not be
imported with the reason, and the plan's actions for the imported objects out.

What each object becomes, and what is refused, is `import_scan`'s. Then the plan the manifests
would give once committed is made (`make_plan`, pure). CONTRACT.md promises that it holds no
install, delete, move or clone for them, at most `site.verify` repairing drift: an imported
object for which it holds anything else is not imported after all, with that action as the
reason (a safety net, not expected to catch anything), and the `site.verify` actions are
returned, so that the user sees what the first apply will repair before committing.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ruamel.yaml import YAML

from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Site
from reconciler.observe.models import ObservedServer
from reconciler.plan.import_db import database_servers_needed
from reconciler.plan.import_scan import (
    Candidate,
    Finding,
    Scan,
    envelope,
    platform_name,
)
from reconciler.plan.model import Action
from reconciler.plan.planner import make_plan

__all__ = [
    "Finding",
    "ImportResult",
    "ImportedDocument",
    "database_servers_needed",
    "import_json",
    "import_server",
    "platform_name",
]


@dataclass(frozen=True)
class ImportedDocument:
    """One manifest to write: `file_name` (`platform-<name>.yaml`, `site-<name>.yaml`), `text`."""

    kind: Literal["Platform", "Site"]
    name: str
    file_name: str
    text: str
    path: str
    """Where it was found on the server."""
    summary: str


@dataclass(frozen=True)
class ImportResult:
    server: str
    documents: tuple[ImportedDocument, ...] = ()
    refused: tuple[Finding, ...] = ()
    """Not importable: the user has something to do first."""
    skipped: tuple[Finding, ...] = ()
    """Already declared, or not a Drupal codebase: nothing to import."""
    notes: tuple[str, ...] = ()
    plan: tuple[Action, ...] = ()
    """The actions the plan holds for the imported objects once they are committed."""


def import_server(
    manifests: ManifestSet,
    observed: Mapping[str, ObservedServer],
    server: str,
    *,
    now: datetime,
) -> ImportResult:
    """What to import from `server` (declared, and observed without error in `observed`, which
    may also hold the database servers `database_servers_needed` names)."""
    declared = manifests.servers.get(server)
    seen = observed.get(server)
    if declared is None or seen is None or not seen.reachable or seen.error is not None:
        raise ValueError(f"server {server} is not declared, or was not observed")
    scan = Scan(manifests, observed, declared, seen).run()
    platforms = {
        name: scan.platform_spec(name) for name, (_, bad) in scan.platforms.items() if not bad
    }
    sites = dict(scan.sites)
    refused = list(scan.refused)
    while True:
        plan = make_plan(
            _with(manifests, platforms, sites),
            _relabelled(observed, server, platforms),
            max_deletes=sys.maxsize,
        )
        mine = [a for a in plan.actions if _imported(a, platforms, sites)]
        wrong = [a for a in mine if a.kind != "site.verify"]
        if not wrong:
            break
        for action in wrong:
            why = f"once committed, the plan would hold {action.kind} for it ({action.reason})"
            if action.object_kind == "Platform" and action.object_name in platforms:
                spec = platforms.pop(action.object_name)
                refused.append(Finding("Platform", action.object_name, spec["path"], why))
                for name in [n for n, c in sites.items() if c.platform == action.object_name]:
                    refused.append(Finding("Site", name, sites.pop(name).site.path, why))
            elif action.object_kind == "Site" and action.object_name in sites:
                refused.append(
                    Finding(
                        "Site", action.object_name, sites.pop(action.object_name).site.path, why
                    )
                )
    notes = [note for c in sites.values() for note in c.notes]
    notes += [n for n in plan.notes if _about(n, platforms, sites)]
    for action in mine:
        rewrites = [r for r in action.reason.split("; ") if r.startswith("settings.php database ")]
        if rewrites:
            notes.append(
                f"Site {action.object_name}: the verify rewrites its settings.php as the "
                "reconciler writes it (a new database password and hash salt; nothing else the "
                "current one holds is kept): to keep it, make it name the database as git "
                f"declares it first ({'; '.join(rewrites)})"
            )
    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    documents = [_platform_doc(server, when, n, s, scan) for n, s in sorted(platforms.items())]
    documents += [_site_doc(server, when, n, c) for n, c in sorted(sites.items())]
    return ImportResult(
        server=server,
        documents=tuple(documents),
        refused=tuple(sorted(refused, key=lambda f: (f.kind, f.name, f.path))),
        skipped=tuple(scan.skipped),
        notes=tuple(notes),
        plan=tuple(mine),
    )


def _with(
    manifests: ManifestSet, platforms: Mapping[str, dict[str, Any]], sites: Mapping[str, Candidate]
) -> ManifestSet:
    """The manifests with the imported documents added, as if committed."""
    new_platforms = {
        name: Platform.model_validate(envelope("Platform", name, spec))
        for name, spec in platforms.items()
    }
    new_sites = {
        name: Site.model_validate(envelope("Site", name, c.spec)) for name, c in sites.items()
    }
    return ManifestSet(
        manifests.revision,
        manifests.servers,
        {**manifests.platforms, **new_platforms},
        {**manifests.sites, **new_sites},
    )


def _relabelled(
    observed: Mapping[str, ObservedServer], server: str, platforms: Mapping[str, dict[str, Any]]
) -> list[ObservedServer]:
    """The servers as the next observe sees them once the platforms are committed: the probe
    names a codebase after the Platform declaring its path."""
    names = {spec["path"]: name for name, spec in platforms.items()}
    seen = observed[server]
    codebases = tuple(
        dataclasses.replace(c, name=names[c.path]) if c.name is None and c.path in names else c
        for c in seen.platforms
    )
    relabelled = dataclasses.replace(seen, platforms=codebases)
    return [relabelled if o.name == server else o for o in observed.values()]


def _imported(action: Action, platforms: Mapping[str, object], sites: Mapping[str, object]) -> bool:
    names = platforms if action.object_kind == "Platform" else sites
    return action.object_name in names


def _about(note: str, platforms: Mapping[str, object], sites: Mapping[str, object]) -> bool:
    kind, _, rest = note.partition(" ")
    name = rest.partition(":")[0]
    return (kind == "Site" and name in sites) or (kind == "Platform" and name in platforms)


# ---------------------------------------------------------------- documents


def _yaml(data: dict[str, Any]) -> str:
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.dump(data, out)
    return out.getvalue()


def _platform_doc(
    server: str, when: str, name: str, spec: dict[str, Any], scan: Scan
) -> ImportedDocument:
    codebase = scan.platforms[name][0]
    core = codebase.core_version or "unknown"
    where = f"{spec['path']} (docroot {spec['docroot']}, core {core})"
    header = [
        f"# Imported by `reconciler import {server}` on {when}: a codebase git did not declare,",
        f"# found on {server} at {where}.",
        "# source existing: the reconciler never writes its code; its sites/ is managed.",
    ]
    return ImportedDocument(
        "Platform",
        name,
        f"platform-{name}.yaml",
        "\n".join(header) + "\n" + _yaml(envelope("Platform", name, spec)),
        spec["path"],
        f"Platform {name}: {where}",
    )


def _site_doc(server: str, when: str, name: str, candidate: Candidate) -> ImportedDocument:
    spec = candidate.spec
    db = spec.get("db") or {}
    if db:
        on = f" on {db['server']}" if "server" in db else ""
        database = f"database {db['name']} (user {db['user']}){on}"
    else:
        database = "its SQLite database"
    extra = "".join(
        [
            f", aliases {' '.join(spec['aliases'])}" if spec.get("aliases") else "",
            ", disabled (its vhost answers 503)" if spec.get("state") == "disabled" else "",
        ]
    )
    header = [
        f"# Imported by `reconciler import {server}` on {when}: a site git did not declare,",
        f"# found on {server} at {candidate.site.path}; {database} adopted.",
        "# Once committed, `reconciler plan` holds at most a site.verify for it (drift repair).",
    ]
    return ImportedDocument(
        "Site",
        name,
        f"site-{name}.yaml",
        "\n".join(header) + "\n" + _yaml(envelope("Site", name, spec)),
        candidate.site.path,
        f"Site {name}: on platform {candidate.platform}, {database}{extra}",
    )


def import_json(result: ImportResult, files: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON of `import --format json`; `files` maps a document's file name to where it was
    written (with `--out`)."""
    written = files or {}
    return {
        "server": result.server,
        "documents": [
            {
                "kind": d.kind,
                "name": d.name,
                "file": written.get(d.file_name, d.file_name),
                "path": d.path,
                "text": d.text,
            }
            for d in result.documents
        ],
        "notImportable": [_finding(f) for f in result.refused],
        "skipped": [_finding(f) for f in result.skipped],
        "notes": list(result.notes),
        "plan": [
            {
                "id": a.id,
                "kind": a.kind,
                "object": {"kind": a.object_kind, "name": a.object_name},
                "server": a.server,
                "reason": a.reason,
            }
            for a in result.plan
        ],
    }


def _finding(finding: Finding) -> dict[str, str]:
    return {
        "kind": finding.kind,
        "name": finding.name,
        "path": finding.path,
        "reason": finding.reason,
    }
