"""Declared against observed, as far as presence and versions go: the sync state of each object.

Pure. `Synced`, `OutOfSync` (with the reason), `Missing`, `Unmanaged` (on a server, not in git),
and `Unknown` while the server cannot be observed. Drift in files and settings is the planner's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Site
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite

__all__ = ["ObjectStatus", "StatusReport", "compute_status"]


@dataclass(frozen=True)
class ObjectStatus:
    kind: str
    name: str
    server: str | None
    platform: str | None
    core_version: str | None
    sync: str
    reason: str = ""
    observed_path: str | None = None
    site: ObservedSite | None = None


@dataclass(frozen=True)
class StatusReport:
    revision: str
    sites: tuple[ObjectStatus, ...]
    platforms: tuple[ObjectStatus, ...]
    servers: tuple[ObservedServer, ...]
    unmanaged: tuple[ObjectStatus, ...] = field(default=())


def _label(platform: ObservedPlatform) -> str:
    return platform.name or platform.path


Place = tuple[ObservedServer, ObservedPlatform, ObservedSite]


def compute_status(manifests: ManifestSet, observed: Sequence[ObservedServer]) -> StatusReport:
    by_server = {o.name: o for o in observed}
    found: dict[str, list[Place]] = {}
    for server in observed:
        for codebase in server.platforms:
            for seen in codebase.sites:
                found.setdefault(seen.name, []).append((server, codebase, seen))
    platforms = tuple(
        _platform_status(manifests, manifests.platforms[name], by_server)
        for name in sorted(manifests.platforms)
    )
    sites = tuple(
        _site_status(manifests, manifests.sites[name], by_server, found.get(name, []))
        for name in sorted(manifests.sites)
    )
    return StatusReport(
        manifests.revision, sites, platforms, tuple(observed), _unmanaged(manifests, observed)
    )


def _platform_status(
    manifests: ManifestSet, platform: Platform, by_server: Mapping[str, ObservedServer]
) -> ObjectStatus:
    server = by_server.get(platform.spec.server)
    path = manifests.platform_path(platform)
    seen = _codebase(server, platform.name)
    version = seen.core_version if seen else None

    def status(sync: str, reason: str = "") -> ObjectStatus:
        return ObjectStatus(
            "Platform",
            platform.name,
            platform.spec.server,
            platform.name,
            version,
            sync,
            reason,
            path,
        )

    if server is None or not server.reachable:
        return status("Unknown", _unreachable(server))
    if platform.spec.state == "absent":
        if seen and seen.exists:
            return status("OutOfSync", f"declared absent, still at {path}")
        return status("Synced", "absent as declared")
    if seen is None or not seen.exists:
        return status("Missing", f"no Drupal codebase at {path}")
    if seen.docroot != platform.spec.docroot:
        return status(
            "OutOfSync", f"its docroot is {seen.docroot!r}, declared {platform.spec.docroot!r}"
        )
    return status("Synced")


def _site_status(
    manifests: ManifestSet,
    site: Site,
    by_server: Mapping[str, ObservedServer],
    places: list[Place],
) -> ObjectStatus:
    declared = manifests.platform_of(site)
    server_name = declared.spec.server
    server = by_server.get(server_name)
    name = site.name

    def status(sync: str, reason: str = "", place: Place | None = None) -> ObjectStatus:
        if place is None:
            return ObjectStatus("Site", name, server_name, declared.name, None, sync, reason)
        where, codebase, seen = place
        return ObjectStatus(
            "Site",
            name,
            where.name,
            _label(codebase),
            codebase.core_version,
            sync,
            reason,
            seen.path,
            seen,
        )

    if server is None or not server.reachable:
        return status("Unknown", _unreachable(server))
    if site.spec.state == "absent":
        if places:
            where = ", ".join(f"{s.name}:{seen.path}" for s, _, seen in places)
            return status("OutOfSync", f"declared absent, still on {where}")
        return status("Synced", "absent as declared")
    here = [p for p in places if p[0].name == server_name and p[1].name == declared.name]
    if here:
        return status("Synced", "", here[0])
    if places:
        other_server, other, _ = places[0]
        target = _codebase(server, declared.name)
        wanted = f" (core {target.core_version})" if target and target.core_version else ""
        reason = (
            f"on platform {_label(other)} ({other_server.name}, core {other.core_version}), "
            f"declared {declared.name}{wanted}"
        )
        return status("OutOfSync", reason, places[0])
    path = manifests.platform_path(declared)
    return status("Missing", f"no site directory on {server_name} under {path}")


def _unmanaged(
    manifests: ManifestSet, observed: Sequence[ObservedServer]
) -> tuple[ObjectStatus, ...]:
    rows: list[ObjectStatus] = []
    for server in observed:
        for codebase in server.platforms:
            if not codebase.exists:
                continue
            if codebase.name is None:
                rows.append(
                    ObjectStatus(
                        "Platform",
                        codebase.path,
                        server.name,
                        None,
                        codebase.core_version,
                        "Unmanaged",
                        "not declared in git",
                        codebase.path,
                    )
                )
            for seen in codebase.sites:
                if seen.name not in manifests.sites:
                    rows.append(
                        ObjectStatus(
                            "Site",
                            seen.name,
                            server.name,
                            _label(codebase),
                            codebase.core_version,
                            "Unmanaged",
                            "not declared in git",
                            seen.path,
                            seen,
                        )
                    )
    return tuple(rows)


def _codebase(server: ObservedServer | None, name: str) -> ObservedPlatform | None:
    """The observed codebase of a declared platform (the probe names what it was asked for)."""
    if server is None:
        return None
    return next((p for p in server.platforms if p.name == name), None)


def _unreachable(server: ObservedServer | None) -> str:
    if server is None:
        return "not observed"
    return f"server not observed: {server.error}"
