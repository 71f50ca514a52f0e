"""What the steps of an action run against: `ActionWork` (the steps and the server behind each role
they name), every server's facts, a site's context where git declares it or where observe found
it, the roles a site's steps name ("web", "db"; "src", "srcdb" for the site a move or a clone
starts from), and the safety backup an action takes first (its id in the step's name).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reconciler.actions.backup import backup_steps
from reconciler.actions.context import (
    PlatformContext,
    ServerFacts,
    SiteContext,
    observed_site_context,
    platform_context,
    server_facts,
    site_context,
)
from reconciler.actions.script import Step
from reconciler.apply.runner import AnyStep
from reconciler.drivers.backup import new_backup_id
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.plan.model import Action

__all__ = [
    "BACKUP_STEP_PREFIX",
    "ActionWork",
    "all_facts",
    "backup_id_of",
    "declared_site",
    "move_roles",
    "observed_site",
    "platform_roles",
    "safety_backup",
    "seen_site_context",
    "site_roles",
]

BACKUP_STEP_PREFIX = "backup "


@dataclass(frozen=True)
class ActionWork:
    """The steps of an action, and where they run."""

    steps: Sequence[AnyStep]
    servers: dict[str, str]
    """The server name behind each role a step may name: "web", and "db" when there is one."""


def all_facts(manifests: ManifestSet, observed: list[ObservedServer]) -> dict[str, ServerFacts]:
    seen = {o.name: o for o in observed}
    facts = {}
    for name, server in manifests.servers.items():
        o = seen.get(name)
        facts[name] = server_facts(server, o.user if o else None, o.home if o else None)
    return facts


def seen_site_context(
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    server: str,
    codebase: ObservedPlatform,
    name: str,
    seen: ObservedSite | None,
) -> SiteContext:
    """The context of site `name` in `codebase` on `server`, where observe found it (`seen`,
    whose settings.php names its database), or where it is about to be (`seen` None)."""
    db = seen.database if seen is not None else None
    return observed_site_context(
        manifests,
        facts,
        server,
        codebase.path,
        codebase.docroot,
        codebase.name,
        name,
        db.name if db is not None else None,
        db.username if db is not None else None,
    )


def declared_site(
    manifests: ManifestSet, action: Action, facts: dict[str, ServerFacts]
) -> SiteContext:
    site = manifests.sites.get(action.object_name)
    if site is None:
        raise PermanentError(f"Site {action.object_name} is no longer declared in git")
    platform = manifests.platform_of(site)
    where = platform_context(manifests, platform, facts[platform.spec.server])
    return site_context(manifests, site, where, facts)


def observed_site(
    manifests: ManifestSet,
    action: Action,
    facts: dict[str, ServerFacts],
    observed: dict[str, ObservedServer],
) -> tuple[SiteContext, str | None, str | None]:
    server = observed.get(action.server)
    found = server.site(action.object_name) if server is not None else None
    if server is None or found is None:
        raise PermanentError(
            f"Site {action.object_name} is no longer on {action.server}",
        )
    codebase, seen = found
    db = seen.database
    ctx = observed_site_context(
        manifests,
        facts,
        action.server,
        codebase.path,
        codebase.docroot,
        codebase.name,
        action.object_name,
        db.name if db is not None else None,
        db.username if db is not None else None,
    )
    return ctx, codebase.core_version, db.driver if db is not None else None


def site_roles(ctx: SiteContext) -> dict[str, str]:
    roles = {"web": ctx.web.name}
    if ctx.db is not None:
        roles["db"] = ctx.db.name
    return roles


def platform_roles(ctx: PlatformContext) -> dict[str, str]:
    return {"web": ctx.web.name}


def safety_backup(
    ctx: SiteContext,
    server: ObservedServer | None,
    core: str | None,
    driver: str | None,
    now: datetime | None,
    backup_id: str | None,
) -> list[Step]:
    """The safety backup an action takes first. Its id is in the step's name, so that a resumed
    action takes (or finds) the same backup instead of a new one of a half-changed site."""
    if backup_id is None:
        taken = [b.id for b in server.backups] if server is not None else []
        backup_id = new_backup_id(ctx.name, now or datetime.now(UTC), taken)
    steps = backup_steps(ctx, backup_id, core, driver=driver)
    return [replace(step, name=f"{BACKUP_STEP_PREFIX}{backup_id}") for step in steps]


def backup_id_of(step_names: Sequence[str]) -> str | None:
    """The id of the safety backup an interrupted action had started (its step's name)."""
    for name in step_names:
        if name.startswith(BACKUP_STEP_PREFIX):
            return name.removeprefix(BACKUP_STEP_PREFIX)
    return None


def move_roles(target: SiteContext, source: SiteContext) -> dict[str, str]:
    """The roles of a move or a clone: "web"/"db" of `target`, "src"/"srcdb" of `source`."""
    roles = site_roles(target)
    roles["src"] = source.web.name
    if source.db is not None:
        roles["srcdb"] = source.db.name
    return roles
