"""The steps of the actions that take a site from one place to another: `site.upgrade` (onto
another platform, maybe another server, its database maybe onto another database server; resumed
after the site left its old place, it gets the rest of its steps only) and `site.clone` (a copy
of another site, where observe found it or where git declares it).

Roles: "src"/"srcdb" where the site (or the source) is now, "web"/"db" where it goes. Pure: no
I/O.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.actions.context import ServerFacts, SiteContext
from reconciler.apply.contexts import (
    ActionWork,
    declared_site,
    move_roles,
    safety_backup,
    seen_site_context,
)
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.plan.drift import database_home
from reconciler.plan.model import Action
from reconciler.plan.vhosts import with_foreign_vhosts

__all__ = ["clone_work", "upgrade_work"]


def upgrade_work(
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

    new = with_foreign_vhosts(declared_site(manifests, action, facts), observed)
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
    backup = safety_backup(old, server, core, driver, now, backup_id)
    build = finish_upgrade_steps if retired else upgrade_steps
    return ActionWork(build(old, new, backup=backup, core_version=core), move_roles(new, old))


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


def clone_work(
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
    target = with_foreign_vhosts(declared_site(manifests, action, facts), observed)
    found = _located(manifests, facts, observed, action.source)
    if found is not None:
        source = found[0]
    else:
        declared = manifests.sites.get(action.source)
        if declared is None:
            raise PermanentError(f"Site {action.object_name}: its source {action.source} is gone")
        source = declared_site(manifests, replace(action, object_name=action.source), facts)
    return ActionWork(clone_steps(target, source), move_roles(target, source))


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
