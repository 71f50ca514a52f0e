"""From a plan's action to the steps that do it, rendered now from the manifests at the plan's
revision and what observe just saw (the plan holds intents, never commands).

Pure: no I/O. `ActionWork` says which servers the steps run on ("web", "db").

The site-context helpers and `ActionWork` are `apply.contexts`'s; the steps of upgrades and clones
`apply.moves`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.actions.context import PlatformContext, SiteContext, platform_context
from reconciler.actions.platform import build_steps, delete_platform_steps
from reconciler.actions.site import (
    delete_steps,
    disable_steps,
    enable_steps,
    install_steps,
    verify_steps,
)
from reconciler.apply.contexts import (
    ActionWork,
    all_facts,
    declared_site,
    observed_site,
    platform_roles,
    safety_backup,
    site_roles,
)
from reconciler.apply.moves import clone_work, upgrade_work
from reconciler.apply.runner import AnyStep
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer
from reconciler.plan.drift import database_reasons, vhost_reasons
from reconciler.plan.model import Action
from reconciler.plan.vhosts import with_foreign_vhosts

__all__ = ["work_for"]


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
        return ActionWork(build_steps(pctx), platform_roles(pctx))
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
        return ActionWork(delete_platform_steps(pctx), platform_roles(pctx))
    if kind == "site.install":
        ctx = with_foreign_vhosts(declared_site(manifests, action, facts), by_name)
        return ActionWork(install_steps(ctx), site_roles(ctx))
    if kind in ("site.enable", "site.disable", "site.verify", "site.delete"):
        ctx, core, driver = observed_site(manifests, action, facts, by_name)
        if kind != "site.delete":
            ctx = with_foreign_vhosts(ctx, by_name, refuse=kind != "site.verify")
        if kind == "site.enable":
            return ActionWork(enable_steps(ctx), site_roles(ctx))
        if kind == "site.disable":
            return ActionWork(disable_steps(ctx), site_roles(ctx))
        if kind == "site.delete":
            server = by_name.get(action.server)
            backup = safety_backup(ctx, server, core, driver, now, backup_id)
            return ActionWork(delete_steps(ctx, backup), site_roles(ctx))
        return ActionWork(_verify(ctx, manifests, by_name), site_roles(ctx))
    if kind == "site.upgrade":
        return upgrade_work(action, manifests, facts, by_name, now, backup_id)
    if kind == "site.clone":
        return clone_work(action, manifests, facts, by_name)
    raise PermanentError(
        f"{kind} of {action.object_name} is not supported by this version of apply",
        hint="upgrades and clones come with the next release; until then, plan shows them only",
    )


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
