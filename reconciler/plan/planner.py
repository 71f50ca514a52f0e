"""`make_plan`: desired state (a ManifestSet) against observed state → ordered actions with reasons.

Pure: no I/O, no clock, no randomness; the same inputs give the same plan, in the same order.

Rules, per object:

* Platform `present`, no codebase observed → `platform.build` (git sources only; an `existing`
  codebase that is not there is a note: it is never written). Platform `absent` and observed →
  `platform.delete`, refused (a note, no action) while a site on it stays there; the delete
  depends on the actions that take its sites away (their deletes and upgrades).
* Site `present`/`disabled`, not on any server → `site.install` (or `site.clone` with
  `cloneFrom`, depending on the source's own install or clone when that is planned too), after
  its platform's `platform.build` when that is planned. Refused with a note onto a `locked`
  platform.
* Site on its declared platform → `site.verify` with every drift reason at once (modes and
  owners of CONTRACT.md's table, the database named in settings.php, the vhost), and
  `site.enable` / `site.disable` when the observed vhost is the wrong one of the two (nginx:
  the disabled vhost is the 503 server block, which has no `root`; a vhost whose text could not be
  read tells neither).
* Site on its declared platform whose settings.php names a database on another declared
  database server than its `db.server` (the server whose `services.db` host and port those are,
  and whose listing holds the database) → `site.upgrade`: the database moves (dump, load on the
  new server, switch, drop the old one after the health check). Never a `site.verify` that would
  point settings.php at a new, empty database: when where the data is cannot be told (a host no
  declared server has, a listing that could not be read), or settings.php names another engine
  (SQLite against MariaDB), the credentials are left alone and a note says why.
* Site on another platform → `site.upgrade` (from/to and core versions in the reason), refused
  with a note when the target's core version is older or the target is locked. A move to another
  server says where the database goes: it follows the platform's server unless `db.server` pins
  it; a move whose database cannot be located is refused with a note (a move drops the old
  database after the copy, so it must know which one that is).
* Site `absent` and observed → `site.delete` (apply takes the backup first).
* Sites and platforms on a server but not in git are `Unmanaged`: listed, and deleted only with
  `prune`.
* A server that could not be observed: nothing of it is planned, and a note says so.
* More deletes than `max_deletes` → `PlanRefused`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Site
from reconciler.observe.models import (
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
)
from reconciler.plan.drift import (
    WANTED_MODES,
    DatabaseHome,
    VhostIndex,
    address_drift,
    database_home,
    database_reasons,
    database_rename,
    engine_change,
    mode_reasons,
    unreachable_service,
)
from reconciler.plan.model import (
    Action,
    ActionKind,
    Plan,
    PlanRefused,
    Unmanaged,
)
from reconciler.plan.order import core_older, order_actions
from reconciler.plan.vhosts import vhost_drift

__all__ = [
    "WANTED_MODES",
    "core_older",
    "make_plan",
    "order_actions",
]


@dataclass(frozen=True)
class _Place:
    server: ObservedServer
    codebase: ObservedPlatform
    site: ObservedSite


def _label(codebase: ObservedPlatform) -> str:
    return codebase.name or codebase.path


def _core(version: str | None) -> str:
    return f"core {version}" if version else "core unknown"


@dataclass
class _Planner:
    manifests: ManifestSet
    observed: Sequence[ObservedServer]
    prune: bool
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    by_server: dict[str, ObservedServer] = field(default_factory=dict)
    found: dict[str, list[_Place]] = field(default_factory=dict)
    built: dict[str, str] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    vhost_index: dict[str, VhostIndex] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)
    leaving: dict[tuple[str, str, str], str] = field(default_factory=dict)
    pending_platform_deletes: list[tuple[ObservedServer, ObservedPlatform, str, str]] = field(
        default_factory=list
    )

    # ------------------------------------------------------------------ helpers

    def reachable(self, name: str) -> ObservedServer | None:
        server = self.by_server.get(name)
        return server if server is not None and server.reachable else None

    def codebase(self, server: ObservedServer, name: str) -> ObservedPlatform | None:
        return next((p for p in server.platforms if p.name == name), None)

    def new_id(self, kind: str, name: str, server: str, path: str | None = None) -> str:
        for candidate in (
            f"{kind}:{name}",
            f"{kind}:{name}@{server}",
            f"{kind}:{name}@{server}:{path}",
        ):
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate
        raise ValueError(f"two actions {kind} for {name} at the same place")  # pragma: no cover

    def add(
        self,
        kind: ActionKind,
        object_kind: str,
        name: str,
        server: str,
        reason: str,
        *,
        depends_on: Sequence[str] = (),
        path: str | None = None,
        platform: str | None = None,
        source: str | None = None,
    ) -> str:
        ident = self.new_id(kind, name, server, path)
        self.actions.append(
            Action(
                id=ident,
                kind=kind,
                object_kind="Site" if object_kind == "Site" else "Platform",
                object_name=name,
                server=server,
                reason=reason,
                depends_on=tuple(sorted(set(depends_on))),
                path=path,
                platform=platform,
                source=source,
            )
        )
        return ident

    # ------------------------------------------------------------------ servers

    def observe_servers(self) -> None:
        self.by_server = {o.name: o for o in self.observed}
        for name in sorted(self.manifests.servers):
            server = self.by_server.get(name)
            if server is None:
                self.unobserved.append(name)
                self.notes.append(
                    f"server {name} was not observed: its platforms and sites were not planned"
                )
            elif not server.reachable:
                self.unobserved.append(name)
                self.notes.append(
                    f"server {name} could not be observed ({server.error or 'no reason given'}): "
                    "its platforms and sites were not planned"
                )
        for server in sorted(self.observed, key=lambda o: o.name):
            if not server.reachable:
                continue
            for codebase in server.platforms:
                for seen in codebase.sites:
                    self.found.setdefault(seen.name, []).append(_Place(server, codebase, seen))

    # ------------------------------------------------------------------ platforms

    def plan_platforms(self) -> None:
        for name in sorted(self.manifests.platforms):
            platform = self.manifests.platforms[name]
            server = self.reachable(platform.spec.server)
            if server is None:
                self.unavailable.add(name)
                continue
            path = self.manifests.platform_path(platform)
            seen = self.codebase(server, name)
            present = seen is not None and seen.exists
            if platform.spec.state == "absent":
                if present and seen is not None:
                    self.pending_platform_deletes.append(
                        (
                            server,
                            seen,
                            name,
                            f"declared absent; still on {server.name} at {path}",
                        )
                    )
                continue
            if present and seen is not None:
                if seen.docroot is not None and seen.docroot != platform.spec.docroot:
                    self.notes.append(
                        f"Platform {name}: its docroot on {server.name} is {seen.docroot!r}, "
                        f"declared {platform.spec.docroot!r}; a platform is never rebuilt in "
                        "place: fix the manifest, or build a new platform and move the sites"
                    )
                continue
            self._plan_build(platform, server, path)

    def _plan_build(self, platform: Platform, server: ObservedServer, path: str) -> None:
        git = platform.spec.source.git
        if git is None:
            self.unavailable.add(platform.name)
            self.notes.append(
                f"Platform {platform.name}: declared as an existing codebase, but there is no "
                f"Drupal codebase on {server.name} at {path}; an existing codebase is never "
                "written: put it there, or fix spec.path"
            )
            return
        steps = len(platform.spec.build)
        then = f", then {steps} build command{'s' if steps != 1 else ''}" if steps else ""
        reason = (
            f"declared in git, no Drupal codebase on {server.name} at {path} "
            f"(clone {git.url} at {git.ref}{then})"
        )
        self.built[platform.name] = self.add(
            "platform.build", "Platform", platform.name, server.name, reason, path=path
        )

    # ------------------------------------------------------------------ sites

    def plan_sites(self) -> None:
        clones: list[Site] = []
        for name in sorted(self.manifests.sites):
            site = self.manifests.sites[name]
            platform = self.manifests.platform_of(site)
            server = self.reachable(platform.spec.server)
            if server is None:
                continue
            places = self.found.get(name, [])
            if site.spec.state == "absent":
                self._plan_site_delete(site, places)
                continue
            here = [
                p
                for p in places
                if p.server.name == server.name and p.codebase.name == platform.name
            ]
            if here:
                self._plan_present(site, platform, here[0])
                for other in places:
                    if other is not here[0]:
                        self.notes.append(
                            f"Site {name}: another copy is on {other.server.name} at "
                            f"{other.site.path}; it is left alone"
                        )
            elif places:
                self._plan_upgrade(site, platform, server, places[0])
            elif site.spec.clone_from is not None:
                clones.append(site)
            else:
                self._plan_install(site, platform, server)
        self._plan_clones(clones)

    def _plan_site_delete(self, site: Site, places: Sequence[_Place]) -> None:
        for place in places:
            reason = (
                f"declared absent; still on {place.server.name} at {place.site.path} "
                "(apply takes a backup first; then its database (and database user), directory, "
                "sites.php entry and vhost are removed)"
            )
            ident = self.add(
                "site.delete",
                "Site",
                site.name,
                place.server.name,
                reason,
                path=place.site.path,
                platform=_label(place.codebase),
            )
            self.leaving[(place.server.name, place.codebase.path, site.name)] = ident

    def _refused_target(self, site: Site, platform: Platform, verb: str) -> bool:
        if platform.spec.locked:
            self.notes.append(
                f"Site {site.name}: not {verb}: Platform {platform.name} is locked "
                "(no new site may be installed or moved onto it)"
            )
            return True
        if platform.name in self.unavailable:
            self.notes.append(
                f"Site {site.name}: not {verb}: Platform {platform.name} is not on "
                f"{platform.spec.server} and cannot be built"
            )
            return True
        return False

    def _plan_install(self, site: Site, platform: Platform, server: ObservedServer) -> None:
        if self._refused_target(site, platform, "installed"):
            return
        path = self.manifests.platform_path(platform)
        reason = f"declared in git, no site directory on {server.name} under {path}"
        if site.spec.state == "disabled":
            reason += " (state: disabled: installed, then served as disabled)"
        deps = [self.built[platform.name]] if platform.name in self.built else []
        self.added[site.name] = self.add(
            "site.install",
            "Site",
            site.name,
            server.name,
            reason,
            depends_on=deps,
            platform=platform.name,
        )

    def _plan_clones(self, clones: list[Site]) -> None:
        waiting = list(clones)
        while waiting:
            progressed = False
            for site in list(waiting):
                source = site.spec.clone_from
                assert source is not None
                if source in self.added or self.found.get(source):
                    waiting.remove(site)
                    progressed = True
                    self._plan_clone(site, source)
            if not progressed:
                break
        for site in waiting:
            self.notes.append(
                f"Site {site.name}: not cloned: its cloneFrom site {site.spec.clone_from} is "
                "on no observed server and is not going to be installed by this plan"
            )

    def _plan_clone(self, site: Site, source: str) -> None:
        platform = self.manifests.platform_of(site)
        if self._refused_target(site, platform, "cloned"):
            return
        path = self.manifests.platform_path(platform)
        server = platform.spec.server
        deps = [self.built[platform.name]] if platform.name in self.built else []
        if source in self.added:
            deps.append(self.added[source])
            whence = "as this plan creates it"
        else:
            first = self.found[source][0]
            whence = f"from {first.server.name}"
        reason = (
            f"declared in git with cloneFrom {source}, no site directory on {server} under "
            f"{path}: a copy of {source}'s database and files ({whence}); {source} is not changed"
        )
        self.added[site.name] = self.add(
            "site.clone",
            "Site",
            site.name,
            server,
            reason,
            depends_on=deps,
            platform=platform.name,
            source=source,
        )

    def _plan_upgrade(
        self, site: Site, platform: Platform, server: ObservedServer, place: _Place
    ) -> None:
        if self._refused_target(site, platform, "moved"):
            return
        target = self.codebase(server, platform.name)
        current = place.codebase.core_version
        wanted = target.core_version if target is not None and target.exists else None
        origin = f"{_label(place.codebase)} ({place.server.name}, {_core(current)})"
        if core_older(wanted, current):
            self.notes.append(
                f"Site {site.name}: upgrade refused: it is on platform {origin}, declared "
                f"{platform.name} ({server.name}, {_core(wanted)}), an older core; "
                "build a platform with the same or a newer core"
            )
            return
        goal = _core(wanted) if platform.name not in self.built else "core known once built"
        crossing = place.server.name != server.name
        database = self._database_on_move(site, place, server.name)
        if database is None:
            return
        moves = " — a move to another server" if crossing else ""
        reason = (
            f"on platform {origin}, declared {platform.name} ({server.name}, {goal}){moves}"
            f"{database}; apply takes a backup first and puts the site back if the upgrade fails"
        )
        deps = [self.built[platform.name]] if platform.name in self.built else []
        ident = self.add(
            "site.upgrade",
            "Site",
            site.name,
            server.name,
            reason,
            depends_on=deps,
            path=place.site.path,
            platform=platform.name,
            source=_label(place.codebase),
        )
        self.leaving[(place.server.name, place.codebase.path, site.name)] = ident

    # ------------------------------------------------------------------ databases

    def _home(self, site: Site, place: _Place) -> DatabaseHome | None:
        return database_home(self.manifests, site, place.server.name, place.site, self.by_server)

    def _why_followed(self, site: Site) -> str:
        return "db.server" if site.spec.db.server else "it follows the platform's server"

    def _database_on_move(self, site: Site, place: _Place, web: str) -> str | None:
        """What the upgrade of `site` to a platform on `web` does with its database, as a phrase
        of the reason (empty when it stays where it is on the same server); None when the
        upgrade is refused (a note says why)."""
        crossing = place.server.name != web
        declared = self.manifests.db_server_of(site)
        driver = engine_change(self.manifests, site, place.site)
        if driver is not None:
            if not crossing:
                return ""
            self._engine_note(site, place, driver, f"not moved from {place.server.name}")
            return None
        home = self._home(site, place)
        if home is None:
            if crossing and place.site.database is not None:
                return "; its SQLite database moves with the site directory"
            return ""
        if home.server is None:
            if not crossing:
                return ""
            self.notes.append(
                f"Site {site.name}: not moved from {place.server.name}: where its database is "
                f"cannot be told ({home.unknown}); a move copies the database and then drops "
                "the old one, so it must know which one that is: make settings.php name a "
                "declared database server, or declare the server it is on"
            )
            return None
        if home.server == declared.name and not crossing:
            return ""
        unreachable = unreachable_service(self.manifests, web, declared.name)
        if unreachable is not None:
            self.notes.append(f"Site {site.name}: not moved: {unreachable}")
            return None
        if home.server == declared.name:
            pinned = " (db.server)" if site.spec.db.server else ""
            return f"; its database stays on {declared.name}{pinned}"
        if self.reachable(declared.name) is None:
            self._unreachable_note(site, declared.name)
            return None
        return (
            f"; database moves from {home.server} to {declared.name} "
            f"({self._why_followed(site)}; {home.name} at {home.address} now)"
        )

    def _unreachable_note(self, site: Site, db_server: str) -> None:
        self.notes.append(
            f"Site {site.name}: its database is not moved: its database server {db_server} "
            "could not be observed"
        )

    def _engine_note(self, site: Site, place: _Place, driver: str, what: str) -> None:
        declared = self.manifests.db_server_of(site)
        service = declared.spec.services.db
        engine = service.type if service is not None else "none"
        self.notes.append(
            f"Site {site.name}: {what}: its settings.php on {place.server.name} names a "
            f"{driver} database, declared {engine} on {declared.name}; a database is not "
            "converted from one engine to another, and its credentials are left as they are"
        )

    def _plan_database_move(self, site: Site, platform: Platform, place: _Place) -> str | None:
        """A site on its declared platform whose database is elsewhere than its `db.server`:
        the `site.upgrade` that moves it (its id), or None (nothing to move, or a note says why
        the credentials are left alone)."""
        driver = engine_change(self.manifests, site, place.site)
        if driver is not None:
            self._engine_note(site, place, driver, "its database is not touched")
            return None
        if not address_drift(self.manifests, site, place.site, place.server.name):
            return None
        home = self._home(site, place)
        declared = self.manifests.db_server_of(site)
        if home is None or home.server == declared.name:
            return None
        if home.server is None:
            self.notes.append(
                f"Site {site.name}: its database is not touched: where it is cannot be told "
                f"({home.unknown}); declared on {declared.name}, but writing those credentials "
                "into settings.php would point the site at a new, empty database: make "
                "settings.php name a declared database server, or declare the server it is on"
            )
            return None
        unreachable = unreachable_service(self.manifests, place.server.name, declared.name)
        if unreachable is not None:
            self.notes.append(f"Site {site.name}: its database is not moved: {unreachable}")
            return None
        if self.reachable(declared.name) is None:
            self._unreachable_note(site, declared.name)
            return None
        reason = (
            f"database moves from {home.server} to {declared.name} (settings.php names "
            f"{home.name} at {home.address}, on {home.server}; declared on {declared.name}, "
            f"{self._why_followed(site)}); apply takes a backup, copies the database to "
            f"{declared.name} and switches the site to it, and drops the old one only after "
            "the health check"
        )
        return self.add(
            "site.upgrade",
            "Site",
            site.name,
            place.server.name,
            reason,
            path=place.site.path,
            platform=platform.name,
            source=_label(place.codebase),
        )

    # ------------------------------------------------------------------ drift

    def _plan_present(self, site: Site, platform: Platform, place: _Place) -> None:
        declared = self.manifests.servers[platform.spec.server]
        db_server = self.manifests.db_server_of(site)
        index = self.vhost_index.get(place.server.name)
        if index is None:
            index = self.vhost_index[place.server.name] = VhostIndex(place.server.vhosts)
        vhost = vhost_drift(self.manifests, site, platform, declared, place.server, index)
        drifted_vhost, live = list(vhost.reasons), vhost.live
        self.notes += vhost.notes
        moved = self._plan_database_move(site, platform, place)
        verify = None
        renamed = database_rename(self.manifests, site, place.site) if moved is None else None
        if renamed is not None:
            self.notes.append(renamed)
        if moved is None:
            reasons = mode_reasons(declared, place.site, place.server.user)
            reasons += database_reasons(
                self.manifests,
                site,
                place.site,
                self.reachable(db_server.name),
                web=place.server.name,
                observed=self.by_server,
            )
            reasons += drifted_vhost
            if reasons:
                verify = self.add(
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
            self.add(
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
            self.add(
                "site.enable",
                "Site",
                site.name,
                place.server.name,
                "state: present, but its vhost is the disabled one (answers 503)",
                depends_on=deps,
                path=place.site.path,
                platform=platform.name,
            )

    # ------------------------------------------------------------------ unmanaged

    def plan_unmanaged(self) -> None:
        for server in sorted(self.observed, key=lambda o: o.name):
            if not server.reachable:
                continue
            for codebase in sorted(server.platforms, key=lambda p: p.path):
                if not codebase.exists:
                    continue
                for seen in sorted(codebase.sites, key=lambda s: s.name):
                    if seen.name in self.manifests.sites:
                        continue
                    self.unmanaged.append(Unmanaged("Site", seen.name, server.name, seen.path))
                    if self.prune:
                        ident = self.add(
                            "site.delete",
                            "Site",
                            seen.name,
                            server.name,
                            f"Unmanaged (on {server.name} at {seen.path}, not declared in git) "
                            "and --prune is given (apply takes a backup first)",
                            path=seen.path,
                            platform=_label(codebase),
                        )
                        self.leaving[(server.name, codebase.path, seen.name)] = ident
                if codebase.name is None:
                    self.unmanaged.append(
                        Unmanaged("Platform", codebase.path, server.name, codebase.path)
                    )
                    if self.prune:
                        self.pending_platform_deletes.append(
                            (
                                server,
                                codebase,
                                codebase.path,
                                f"Unmanaged (a codebase on {server.name} not declared in git) "
                                "and --prune is given",
                            )
                        )

    def plan_platform_deletes(self) -> None:
        for server, codebase, name, reason in self.pending_platform_deletes:
            staying = [
                s.name
                for s in codebase.sites
                if (server.name, codebase.path, s.name) not in self.leaving
            ]
            if staying:
                listed = ", ".join(sorted(staying)[:5])
                more = f" and {len(staying) - 5} more" if len(staying) > 5 else ""
                self.notes.append(
                    f"Platform {name}: not deleted: sites are still on it on {server.name} "
                    f"({listed}{more}); delete or move them first"
                )
                continue
            deps = [self.leaving[(server.name, codebase.path, s.name)] for s in codebase.sites]
            self.add(
                "platform.delete",
                "Platform",
                name,
                server.name,
                reason,
                depends_on=deps,
                path=codebase.path,
            )


def make_plan(
    manifests: ManifestSet,
    observed: Sequence[ObservedServer],
    *,
    prune: bool = False,
    max_deletes: int = 5,
) -> Plan:
    """The plan from what the servers hold (`observed`) to what git declares (`manifests`).

    `manifests` is a valid, complete manifest set: the loader refuses one that could not be read,
    so that an unreadable repository never looks like "nothing declared, delete everything".
    Raises `PlanRefused` when the plan would delete more than `max_deletes` objects.
    """
    if max_deletes < 0:
        raise ValueError("max_deletes cannot be negative")
    planner = _Planner(manifests, observed, prune)
    planner.observe_servers()
    planner.plan_platforms()
    planner.plan_sites()
    planner.plan_unmanaged()
    planner.plan_platform_deletes()
    plan = Plan(
        revision=manifests.revision,
        actions=order_actions(planner.actions),
        unmanaged=tuple(planner.unmanaged),
        notes=tuple(planner.notes),
        unobserved=tuple(planner.unobserved),
    )
    deletes = plan.deletes()
    if len(deletes) > max_deletes:
        shown = ", ".join(f"{a.object_kind} {a.object_name} on {a.server}" for a in deletes[:10])
        more = f" and {len(deletes) - 10} more" if len(deletes) > 10 else ""
        raise PlanRefused(
            f"the plan deletes {len(deletes)} objects, more than --max-deletes {max_deletes} "
            f"allows: {shown}{more}",
            plan=plan,
            hint=f"if these deletions are intended, run again with --max-deletes {len(deletes)}; "
            "if not, fix git (a state: absent set by mistake, or --prune with manifests missing)",
        )
    return plan
