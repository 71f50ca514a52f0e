"""From a plan's action to the steps that do it, rendered now from the manifests at the plan's
revision and what observe just saw (the plan holds intents, never commands).

Pure: no I/O. `ActionWork` says which servers the steps run on ("web", "db").
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
from reconciler.actions.platform import build_steps, delete_platform_steps
from reconciler.actions.script import Step
from reconciler.actions.site import (
    delete_steps,
    disable_steps,
    enable_steps,
    install_steps,
    verify_steps,
)
from reconciler.apply.runner import AnyStep
from reconciler.drivers.backup import new_backup_id
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.plan.drift import database_home, database_reasons, vhost_reasons
from reconciler.plan.model import Action
from reconciler.plan.vhosts import with_foreign_vhosts

__all__ = [
    "BACKUP_STEP_PREFIX",
    "ActionWork",
    "all_facts",
    "backup_id_of",
    "seen_site_context",
    "work_for",
]

BACKUP_STEP_PREFIX = "backup "


@dataclass(frozen=True)
class ActionWork:
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


def _declared_site(
    manifests: ManifestSet, action: Action, facts: dict[str, ServerFacts]
) -> SiteContext:
    site = manifests.sites.get(action.object_name)
    if site is None:
        raise PermanentError(f"Site {action.object_name} is no longer declared in git")
    platform = manifests.platform_of(site)
    where = platform_context(manifests, platform, facts[platform.spec.server])
    return site_context(manifests, site, where, facts)


def _observed_site(
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


def _roles(ctx: SiteContext) -> dict[str, str]:
    roles = {"web": ctx.web.name}
    if ctx.db is not None:
        roles["db"] = ctx.db.name
    return roles


def _platform_roles(ctx: PlatformContext) -> dict[str, str]:
    return {"web": ctx.web.name}


def _backup(
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


def _located(
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    observed: dict[str, ObservedServer],
    name: str,
    path: str | None = None,
) -> tuple[SiteContext, ObservedServer, str | None, str | None] | None:
    """A site where observe found it (at `path` when given): its context, server, core version
    and database driver."""
    for server in observed.values():
        for codebase in server.platforms:
            for seen in codebase.sites:
                if seen.name != name or (path is not None and seen.path != path):
                    continue
                db = seen.database
                ctx = seen_site_context(manifests, facts, server.name, codebase, name, seen)
                return ctx, server, codebase.core_version, db.driver if db else None
    return None


def work_for(
    action: Action,
    manifests: ManifestSet,
    observed: list[ObservedServer],
    *,
    now: datetime | None = None,
    backup_id: str | None = None,
) -> ActionWork:
    """The steps of `action`; raises `PermanentError` when it cannot be done as planned.
    `backup_id`: the safety backup an interrupted run of this action had started."""
    facts = all_facts(manifests, observed)
    by_name = {o.name: o for o in observed}
    kind = action.kind
    if kind == "platform.build":
        platform = manifests.platforms[action.object_name]
        pctx = platform_context(manifests, platform, facts[platform.spec.server])
        return ActionWork(build_steps(pctx), _platform_roles(pctx))
    if kind == "platform.delete":
        server = by_name.get(action.server)
        codebase = next(
            (p for p in (server.platforms if server else ()) if p.path == action.path), None
        )
        if codebase is None or action.path is None:
            raise PermanentError(f"Platform {action.object_name} is no longer on {action.server}")
        pctx = PlatformContext(
            name=action.object_name,
            web=facts[action.server],
            codebase=codebase.path,
            docroot=codebase.docroot or "web",
            drush_path="vendor/bin/drush",
        )
        return ActionWork(delete_platform_steps(pctx), _platform_roles(pctx))
    if kind == "site.install":
        ctx = with_foreign_vhosts(_declared_site(manifests, action, facts), by_name)
        return ActionWork(install_steps(ctx), _roles(ctx))
    if kind in ("site.enable", "site.disable", "site.verify", "site.delete"):
        ctx, core, driver = _observed_site(manifests, action, facts, by_name)
        if kind != "site.delete":
            ctx = with_foreign_vhosts(ctx, by_name, refuse=kind != "site.verify")
        if kind == "site.enable":
            return ActionWork(enable_steps(ctx), _roles(ctx))
        if kind == "site.disable":
            return ActionWork(disable_steps(ctx), _roles(ctx))
        if kind == "site.delete":
            server = by_name.get(action.server)
            backup = _backup(ctx, server, core, driver, now, backup_id)
            return ActionWork(delete_steps(ctx, backup), _roles(ctx))
        return ActionWork(_verify(ctx, manifests, by_name), _roles(ctx))
    if kind == "site.upgrade":
        return _upgrade(action, manifests, facts, by_name, now, backup_id)
    if kind == "site.clone":
        return _clone(action, manifests, facts, by_name)
    raise PermanentError(
        f"{kind} of {action.object_name} is not supported by this version of apply",
        hint="upgrades and clones come with the next release; until then, plan shows them only",
    )


def _roles_of(target: SiteContext, source: SiteContext) -> dict[str, str]:
    roles = _roles(target)
    roles["src"] = source.web.name
    if source.db is not None:
        roles["srcdb"] = source.db.name
    return roles


def _upgrade(
    action: Action,
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    observed: dict[str, ObservedServer],
    now: datetime | None,
    backup_id: str | None,
) -> ActionWork:
    """Roles: "src"/"srcdb" where the site is now, "web"/"db" where it goes.

    An upgrade resumed after the site left its old place (renamed into the new platform, or its
    old copy retired after the switch) finds that place by its path in the old codebase, and
    gets the rest of its steps only (`finish_upgrade_steps`)."""
    from reconciler.actions.upgrade import (
        database_moves,
        finish_upgrade_steps,
        upgrade_steps,
    )

    new = with_foreign_vhosts(_declared_site(manifests, action, facts), observed)
    place = _old_place(manifests, facts, observed, action, new)
    if place is None:
        raise PermanentError(f"Site {action.object_name} is no longer at {action.path}")
    old, server, core, driver, seen = place
    here = next(
        (
            s
            for codebase in server.platforms
            for s in codebase.sites
            if s.name == action.object_name and s.path == action.path
        ),
        None,
    )
    old = _current_database(old, manifests, facts, here, observed)
    listing = observed.get(old.db.name) if old.db is not None else None
    databases = listing.database_server if listing is not None else None
    dropped = (
        database_moves(old, new)
        and databases is not None
        and databases.error is None
        and old.db_name not in databases.databases
    )
    retired = not seen or dropped
    if retired and (backup_id is None or not (seen or _arrived(observed, new))):
        # not an interrupted upgrade, or the site is at neither place
        raise PermanentError(f"Site {action.object_name} is no longer at {action.path}")
    backup = _backup(old, server, core, driver, now, backup_id)
    build = finish_upgrade_steps if retired else upgrade_steps
    return ActionWork(build(old, new, backup=backup, core_version=core), _roles_of(new, old))


def _arrived(observed: dict[str, ObservedServer], new: SiteContext) -> bool:
    server = observed.get(new.web.name)
    found = server.site(new.name) if server is not None else None
    return found is not None and found[1].path == new.site_dir


def _site_path(codebase: ObservedPlatform, name: str) -> str | None:
    if codebase.docroot is None:
        return None
    root = codebase.path if codebase.docroot == "." else f"{codebase.path}/{codebase.docroot}"
    return f"{root}/sites/{name}"


def _old_place(
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    observed: dict[str, ObservedServer],
    action: Action,
    new: SiteContext,
) -> tuple[SiteContext, ObservedServer, str | None, str | None, bool] | None:
    """Where an upgrading site was: the codebase holding `action.path` (on the server of the
    platform it leaves, when that is declared), preferring one where the site still is and that
    is not its new place. Its context, server, core version, database driver, and whether
    observe still sees the site there."""
    name = action.object_name
    origin = manifests.platforms.get(action.source or "")
    best: tuple[tuple[bool, bool], ObservedServer, ObservedPlatform, ObservedSite | None] | None
    best = None
    for server in observed.values():
        if origin is not None and server.name != origin.spec.server:
            continue
        for codebase in server.platforms:
            if _site_path(codebase, name) != action.path:
                continue
            seen = next((s for s in codebase.sites if s.name == name), None)
            elsewhere = server.name != new.web.name or action.path != new.site_dir
            rank = (seen is not None and elsewhere, elsewhere)
            if best is None or rank > best[0]:
                best = (rank, server, codebase, seen)
    if best is None:
        return None
    _, server, codebase, seen = best
    db = seen.database if seen is not None else None
    ctx = seen_site_context(manifests, facts, server.name, codebase, name, seen)
    driver = db.driver if db is not None else None
    return ctx, server, codebase.core_version, driver, seen is not None


def _current_database(
    old: SiteContext,
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    seen: ObservedSite | None,
    observed: dict[str, ObservedServer],
) -> SiteContext:
    """The old place with the database server its database is on now: the declared server
    whose `services.db` its settings.php names and whose listing holds it (`database_home`, as
    the planner found it); when observe cannot tell (the site gone from its old place), a site
    without `db.server` has it on its platform's server, which for the old place is the server
    the site is leaving (its context names the declared platform's)."""
    site = old.site
    if site is None:
        return old
    home = database_home(manifests, site, old.web.name, seen, observed) if seen else None
    if home is not None and home.server is not None:
        holder = manifests.servers[home.server]
        return replace(old, db=facts.get(home.server), db_service=holder.spec.services.db)
    server = manifests.servers.get(old.web.name)
    if site.spec.db.server is not None or server is None:
        return old
    return replace(old, db=facts.get(old.web.name), db_service=server.spec.services.db)


def _clone(
    action: Action,
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    observed: dict[str, ObservedServer],
) -> ActionWork:
    """Roles: "src"/"srcdb" for the site copied (where observe found it, or where git declares
    it when this plan installs it), "web"/"db" for the new site."""
    from reconciler.actions.clone import clone_steps

    if action.source is None:  # pragma: no cover - the planner always names the source
        raise PermanentError(f"Site {action.object_name}: a clone without a source")
    target = with_foreign_vhosts(_declared_site(manifests, action, facts), observed)
    found = _located(manifests, facts, observed, action.source)
    if found is not None:
        source = found[0]
    else:
        declared = manifests.sites.get(action.source)
        if declared is None:
            raise PermanentError(f"Site {action.object_name}: its source {action.source} is gone")
        source = _declared_site(manifests, replace(action, object_name=action.source), facts)
    return ActionWork(clone_steps(target, source), _roles_of(target, source))


def _verify(
    ctx: SiteContext, manifests: ManifestSet, observed: dict[str, ObservedServer]
) -> Sequence[AnyStep]:
    site = ctx.site
    server = observed[ctx.web.name]
    found = server.site(ctx.name)
    if site is None or found is None:  # pragma: no cover - verify is of a declared, seen site
        raise PermanentError(f"Site {ctx.name}: nothing to verify")
    _, seen = found
    db_listing = observed.get(ctx.db.name) if ctx.db is not None else None
    credentials = (
        seen.modes.settings is None
        or seen.database is None
        or bool(database_reasons(manifests, site, seen, db_listing))
    )
    platform = manifests.platform_of(site)
    declared = manifests.servers[platform.spec.server]
    drifted, _ = vhost_reasons(manifests, site, platform, declared, server)
    return verify_steps(ctx, credentials=credentials, vhost=bool(drifted))
