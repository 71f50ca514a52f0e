"""Site planning: for each declared site, where it is against where git puts it. Not there →
`site.install` (or, with `cloneFrom`, the clone of `plan.moves`); on its declared platform →
`site.verify` with every drift reason, `site.enable` / `site.disable`, or the database move of
`plan.moves`; on another platform → the upgrade of `plan.moves`; declared absent →
`site.delete`.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.manifests.models import Platform, Site
from reconciler.observe.models import ObservedServer
from reconciler.plan.drift import (
    VhostIndex,
    database_reasons,
    database_rename,
    mode_reasons,
)
from reconciler.plan.moves import plan_clones, plan_database_move, plan_upgrade
from reconciler.plan.state import Place, PlanState, codebase_label
from reconciler.plan.vhosts import vhost_drift

__all__ = ["plan_sites"]


def plan_sites(state: PlanState) -> None:
    clones: list[Site] = []
    for name in sorted(state.manifests.sites):
        site = state.manifests.sites[name]
        platform = state.manifests.platform_of(site)
        server = state.reachable(platform.spec.server)
        if server is None:
            continue
        places = state.found.get(name, [])
        if site.spec.state == "absent":
            _plan_site_delete(state, site, places)
            continue
        here = [
            p for p in places if p.server.name == server.name and p.codebase.name == platform.name
        ]
        if here:
            _plan_present(state, site, platform, here[0])
            for other in places:
                if other is not here[0]:
                    state.notes.append(
                        f"Site {name}: another copy is on {other.server.name} at "
                        f"{other.site.path}; it is left alone"
                    )
        elif places:
            plan_upgrade(state, site, platform, server, places[0])
        elif site.spec.clone_from is not None:
            clones.append(site)
        else:
            _plan_install(state, site, platform, server)
    plan_clones(state, clones)


def _plan_site_delete(state: PlanState, site: Site, places: Sequence[Place]) -> None:
    for place in places:
        reason = (
            f"declared absent; still on {place.server.name} at {place.site.path} "
            "(apply takes a backup first; then its database (and database user), directory, "
            "sites.php entry and vhost are removed)"
        )
        ident = state.add(
            "site.delete",
            "Site",
            site.name,
            place.server.name,
            reason,
            path=place.site.path,
            platform=codebase_label(place.codebase),
        )
        state.leaving[(place.server.name, place.codebase.path, site.name)] = ident


def _plan_install(state: PlanState, site: Site, platform: Platform, server: ObservedServer) -> None:
    if state.refused_target(site, platform, "installed"):
        return
    path = state.manifests.platform_path(platform)
    reason = f"declared in git, no site directory on {server.name} under {path}"
    if site.spec.state == "disabled":
        reason += " (state: disabled: installed, then served as disabled)"
    deps = [state.built[platform.name]] if platform.name in state.built else []
    state.added[site.name] = state.add(
        "site.install",
        "Site",
        site.name,
        server.name,
        reason,
        depends_on=deps,
        platform=platform.name,
    )


def _plan_present(state: PlanState, site: Site, platform: Platform, place: Place) -> None:
    declared = state.manifests.servers[platform.spec.server]
    db_server = state.manifests.db_server_of(site)
    index = state.vhost_index.get(place.server.name)
    if index is None:
        index = state.vhost_index[place.server.name] = VhostIndex(place.server.vhosts)
    vhost = vhost_drift(state.manifests, site, platform, declared, place.server, index)
    drifted_vhost, live = list(vhost.reasons), vhost.live
    state.notes += vhost.notes
    moved = plan_database_move(state, site, platform, place)
    verify = None
    renamed = database_rename(state.manifests, site, place.site) if moved is None else None
    if renamed is not None:
        state.notes.append(renamed)
    if moved is None:
        reasons = mode_reasons(declared, place.site, place.server.user)
        reasons += database_reasons(
            state.manifests,
            site,
            place.site,
            state.reachable(db_server.name),
            web=place.server.name,
            observed=state.by_server,
        )
        reasons += drifted_vhost
        if reasons:
            verify = state.add(
                "site.verify",
                "Site",
                site.name,
                place.server.name,
                "; ".join(reasons),
                path=place.site.path,
                platform=platform.name,
            )
    first = moved or verify
    deps = [first] if first else []
    if site.spec.state == "disabled" and live is True:
        state.add(
            "site.disable",
            "Site",
            site.name,
            place.server.name,
            "state: disabled, but its vhost serves the site (apply swaps in the 503 vhost; "
            "data kept)",
            depends_on=deps,
            path=place.site.path,
            platform=platform.name,
        )
    elif site.spec.state == "present" and live is False:
        state.add(
            "site.enable",
            "Site",
            site.name,
            place.server.name,
            "state: present, but its vhost is the disabled one (answers 503)",
            depends_on=deps,
            path=place.site.path,
            platform=platform.name,
        )
