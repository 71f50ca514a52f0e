"""A site that comes from elsewhere: `site.upgrade` onto another platform (refused onto an older
core; a move to another server says where the database goes, and is refused when it cannot be
located), `site.upgrade` of a site on its declared platform whose database is on another server
than its `db.server`, and `site.clone` from its `cloneFrom` site, after that one's own install
or clone. Never a change that would point settings.php at a new, empty database: the notes say
why the credentials are left alone.
"""

from __future__ import annotations

from reconciler.manifests.models import Platform, Site
from reconciler.observe.models import ObservedServer
from reconciler.plan.drift import (
    DatabaseHome,
    address_drift,
    database_home,
    engine_change,
    unreachable_service,
)
from reconciler.plan.order import core_older
from reconciler.plan.state import Place, PlanState, codebase_label

__all__ = ["plan_clones", "plan_database_move", "plan_upgrade"]


def _core(version: str | None) -> str:
    return f"core {version}" if version else "core unknown"


def plan_clones(state: PlanState, clones: list[Site]) -> None:
    waiting = list(clones)
    while waiting:
        progressed = False
        for site in list(waiting):
            source = site.spec.clone_from
            assert source is not None
            if source in state.added or state.found.get(source):
                waiting.remove(site)
                progressed = True
                _plan_clone(state, site, source)
        if not progressed:
            break
    for site in waiting:
        state.notes.append(
            f"Site {site.name}: not cloned: its cloneFrom site {site.spec.clone_from} is "
            "on no observed server and is not going to be installed by this plan"
        )


def _plan_clone(state: PlanState, site: Site, source: str) -> None:
    platform = state.manifests.platform_of(site)
    if state.refused_target(site, platform, "cloned"):
        return
    path = state.manifests.platform_path(platform)
    server = platform.spec.server
    deps = [state.built[platform.name]] if platform.name in state.built else []
    if source in state.added:
        deps.append(state.added[source])
        whence = "as this plan creates it"
    else:
        first = state.found[source][0]
        whence = f"from {first.server.name}"
    reason = (
        f"declared in git with cloneFrom {source}, no site directory on {server} under "
        f"{path}: a copy of {source}'s database and files ({whence}); {source} is not changed"
    )
    state.added[site.name] = state.add(
        "site.clone",
        "Site",
        site.name,
        server,
        reason,
        depends_on=deps,
        platform=platform.name,
        source=source,
    )


def plan_upgrade(
    state: PlanState, site: Site, platform: Platform, server: ObservedServer, place: Place
) -> None:
    if state.refused_target(site, platform, "moved"):
        return
    target = state.codebase(server, platform.name)
    current = place.codebase.core_version
    wanted = target.core_version if target is not None and target.exists else None
    origin = f"{codebase_label(place.codebase)} ({place.server.name}, {_core(current)})"
    if core_older(wanted, current):
        state.notes.append(
            f"Site {site.name}: upgrade refused: it is on platform {origin}, declared "
            f"{platform.name} ({server.name}, {_core(wanted)}), an older core; "
            "build a platform with the same or a newer core"
        )
        return
    goal = _core(wanted) if platform.name not in state.built else "core known once built"
    crossing = place.server.name != server.name
    database = _database_on_move(state, site, place, server.name)
    if database is None:
        return
    moves = " — a move to another server" if crossing else ""
    reason = (
        f"on platform {origin}, declared {platform.name} ({server.name}, {goal}){moves}"
        f"{database}; apply takes a backup first and puts the site back if the upgrade fails"
    )
    deps = [state.built[platform.name]] if platform.name in state.built else []
    ident = state.add(
        "site.upgrade",
        "Site",
        site.name,
        server.name,
        reason,
        depends_on=deps,
        path=place.site.path,
        platform=platform.name,
        source=codebase_label(place.codebase),
    )
    state.leaving[(place.server.name, place.codebase.path, site.name)] = ident


def _home(state: PlanState, site: Site, place: Place) -> DatabaseHome | None:
    return database_home(state.manifests, site, place.server.name, place.site, state.by_server)


def _why_followed(state: PlanState, site: Site) -> str:
    return "db.server" if site.spec.db.server else "it follows the platform's server"


def _database_on_move(state: PlanState, site: Site, place: Place, web: str) -> str | None:
    """What the upgrade of `site` to a platform on `web` does with its database, as a phrase
    of the reason (empty when it stays where it is on the same server); None when the
    upgrade is refused (a note says why)."""
    crossing = place.server.name != web
    declared = state.manifests.db_server_of(site)
    driver = engine_change(state.manifests, site, place.site)
    if driver is not None:
        if not crossing:
            return ""
        _engine_note(state, site, place, driver, f"not moved from {place.server.name}")
        return None
    home = _home(state, site, place)
    if home is None:
        if crossing and place.site.database is not None:
            return "; its SQLite database moves with the site directory"
        return ""
    if home.server is None:
        if not crossing:
            return ""
        state.notes.append(
            f"Site {site.name}: not moved from {place.server.name}: where its database is "
            f"cannot be told ({home.unknown}); a move copies the database and then drops "
            "the old one, so it must know which one that is: make settings.php name a "
            "declared database server, or declare the server it is on"
        )
        return None
    if home.server == declared.name and not crossing:
        return ""
    unreachable = unreachable_service(state.manifests, web, declared.name)
    if unreachable is not None:
        state.notes.append(f"Site {site.name}: not moved: {unreachable}")
        return None
    if home.server == declared.name:
        pinned = " (db.server)" if site.spec.db.server else ""
        return f"; its database stays on {declared.name}{pinned}"
    if state.reachable(declared.name) is None:
        _unreachable_note(state, site, declared.name)
        return None
    return (
        f"; database moves from {home.server} to {declared.name} "
        f"({_why_followed(state, site)}; {home.name} at {home.address} now)"
    )


def _unreachable_note(state: PlanState, site: Site, db_server: str) -> None:
    state.notes.append(
        f"Site {site.name}: its database is not moved: its database server {db_server} "
        "could not be observed"
    )


def _engine_note(state: PlanState, site: Site, place: Place, driver: str, what: str) -> None:
    declared = state.manifests.db_server_of(site)
    service = declared.spec.services.db
    engine = service.type if service is not None else "none"
    state.notes.append(
        f"Site {site.name}: {what}: its settings.php on {place.server.name} names a "
        f"{driver} database, declared {engine} on {declared.name}; a database is not "
        "converted from one engine to another, and its credentials are left as they are"
    )


def plan_database_move(
    state: PlanState, site: Site, platform: Platform, place: Place
) -> str | None:
    """A site on its declared platform whose database is elsewhere than its `db.server`:
    the `site.upgrade` that moves it (its id), or None (nothing to move, or a note says why
    the credentials are left alone)."""
    driver = engine_change(state.manifests, site, place.site)
    if driver is not None:
        _engine_note(state, site, place, driver, "its database is not touched")
        return None
    if not address_drift(state.manifests, site, place.site, place.server.name):
        return None
    home = _home(state, site, place)
    declared = state.manifests.db_server_of(site)
    if home is None or home.server == declared.name:
        return None
    if home.server is None:
        state.notes.append(
            f"Site {site.name}: its database is not touched: where it is cannot be told "
            f"({home.unknown}); declared on {declared.name}, but writing those credentials "
            "into settings.php would point the site at a new, empty database: make "
            "settings.php name a declared database server, or declare the server it is on"
        )
        return None
    unreachable = unreachable_service(state.manifests, place.server.name, declared.name)
    if unreachable is not None:
        state.notes.append(f"Site {site.name}: its database is not moved: {unreachable}")
        return None
    if state.reachable(declared.name) is None:
        _unreachable_note(state, site, declared.name)
        return None
    reason = (
        f"database moves from {home.server} to {declared.name} (settings.php names "
        f"{home.name} at {home.address}, on {home.server}; declared on {declared.name}, "
        f"{_why_followed(state, site)}); apply takes a backup, copies the database to "
        f"{declared.name} and switches the site to it, and drops the old one only after "
        "the health check"
    )
    return state.add(
        "site.upgrade",
        "Site",
        site.name,
        place.server.name,
        reason,
        path=place.site.path,
        platform=platform.name,
        source=codebase_label(place.codebase),
    )
