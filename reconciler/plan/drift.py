"""Drift of a site that is where git wants it: modes, owners, database settings, vhost.

Pure functions of the declared and the observed state; each reason is one line a user reads in
the plan ("settings.php mode is 0644, want 0440").
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from reconciler.actions.context import http_group
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Server, Site
from reconciler.manifests.names import database_name
from reconciler.observe.models import ObservedServer, ObservedSite, ObservedVhost

__all__ = [
    "WANTED_MODES",
    "VhostIndex",
    "database_reasons",
    "find_vhost",
    "mode_reasons",
    "vhost_reasons",
]

WANTED_MODES: dict[str, tuple[str, str]] = {
    "siteDir": ("site directory", "0550"),
    "settings": ("settings.php", "0440"),
    "files": ("files/", "2770"),
    "private": ("private/", "2770"),
}
"""CONTRACT.md's modes of a site: the observed key, how a reason names it, and the wanted mode."""


def mode_reasons(declared: Server, seen: ObservedSite, login_user: str | None) -> list[str]:
    """Modes, owners and groups of a site against CONTRACT.md's table."""
    modes = seen.modes.as_json()
    group = http_group(declared) if declared.spec.services.http is not None else None
    reasons: list[str] = []
    for key, (label, want) in WANTED_MODES.items():
        mode = modes.get(key)
        if mode is None:
            if key != "siteDir":
                reasons.append(f"{label} is missing")
            continue
        if mode != want:
            reasons.append(f"{label} mode is {mode}, want {want}")
        owner_group = seen.owners.get(key)
        if owner_group and ":" in owner_group:
            owner, _, got = owner_group.partition(":")
            user = login_user
            if user and owner != user:
                reasons.append(f"{label} owner is {owner}, want {user}")
            if group and got != group:
                reasons.append(f"{label} group is {got}, want {group}")
    if seen.settings_error:
        reasons.append(f"settings.php could not be read: {seen.settings_error}")
    return reasons


def database_reasons(
    manifests: ManifestSet, site: Site, seen: ObservedSite, listing: ObservedServer | None
) -> list[str]:
    """The database named in settings.php against the declared (or generated) one."""
    observed = seen.database
    db_server = manifests.db_server_of(site)
    service = db_server.spec.services.db
    if observed is None or service is None or seen.settings_error:
        return []
    dynamic = set(observed.dynamic)
    if "*" in dynamic:
        return []
    reasons: list[str] = []

    def differs(key: str, got: object, want: object, label: str) -> None:
        if key not in dynamic and str(got) != str(want):
            reasons.append(f"settings.php database {label} is {got}, want {want}")

    if service.type == "sqlite":
        differs("driver", observed.driver, "sqlite", "driver")
        return reasons
    generated = database_name(site.name)
    name = site.spec.db.name or generated
    user = site.spec.db.user or generated
    differs("driver", observed.driver, "mysql", "driver")
    differs("database", observed.name, name, "name")
    differs("username", observed.username, user, "user")
    differs("host", observed.host, service.host, "host")
    differs("port", observed.port, service.port, "port")
    if (
        listing is not None
        and listing.database_server is not None
        and listing.database_server.error is None
        and name not in listing.database_server.databases
    ):
        reasons.append(f"database {name} is not on {db_server.name}")
    return reasons


def vhost_reasons(
    manifests: ManifestSet,
    site: Site,
    platform: Platform,
    declared: Server,
    server: ObservedServer,
    index: VhostIndex | None = None,
) -> tuple[list[str], bool | None]:
    """Drift of the site's vhost, and whether the vhost serves the site (None: unknown)."""
    http = declared.spec.services.http
    if http is None or http.type not in ("nginx", "apache", "builtin"):
        return [], None
    directory = http.vhost_dir
    home = server.home
    if directory.startswith("~/") and home:
        directory = posixpath.join(home, directory[2:])
    wanted_path = f"{directory}/{site.name}.conf"
    found = index if index is not None else VhostIndex(server.vhosts)
    vhost = found.find(site.name, wanted_path)
    if vhost is None:
        return [f"vhost {wanted_path} is missing"], None
    if http.type not in ("nginx", "builtin") or not vhost.server_names:
        return [], None
    reasons: list[str] = []
    names = set(vhost.server_names)
    want_names = {site.name, *site.spec.aliases} if http.type == "nginx" else {site.name}
    if names != want_names:
        reasons.append(
            f"vhost {vhost.path} serves {' '.join(sorted(names))}, "
            f"want {' '.join(sorted(want_names))}"
        )
    if vhost.root is None:
        return reasons, False
    codebase = manifests.platform_path(platform)
    docroot = platform.spec.docroot
    want_root = codebase if docroot == "." else f"{codebase}/{docroot}"
    if home and want_root.startswith("~/"):
        want_root = posixpath.join(home, want_root[2:])
    if vhost.root != want_root:
        reasons.append(f"vhost {vhost.path} root is {vhost.root}, want {want_root}")
    return reasons, True


class VhostIndex:
    """A server's vhosts by path, by file name and by server name: `find` in constant time, so
    that planning many sites costs linear time, not quadratic."""

    def __init__(self, vhosts: Sequence[ObservedVhost]) -> None:
        self.by_path: dict[str, ObservedVhost] = {}
        self.by_file: dict[str, ObservedVhost] = {}
        self.by_name: dict[str, ObservedVhost] = {}
        for vhost in vhosts:
            self.by_path.setdefault(vhost.path, vhost)
            self.by_file.setdefault(posixpath.basename(vhost.path), vhost)
            for name in vhost.server_names:
                self.by_name.setdefault(name, vhost)

    def find(self, site: str, wanted_path: str) -> ObservedVhost | None:
        return (
            self.by_path.get(wanted_path)
            or self.by_file.get(f"{site}.conf")
            or self.by_name.get(site)
        )


def find_vhost(
    vhosts: Sequence[ObservedVhost], site: str, wanted_path: str
) -> ObservedVhost | None:
    """The site's vhost: the wanted file, else a file named after the site, else the first
    vhost serving its name."""
    return VhostIndex(vhosts).find(site, wanted_path)
