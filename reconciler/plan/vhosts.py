"""Drift of a site's vhost, and the foreign vhosts that serve its names.

Pure functions of the declared and the observed state. The reconciler owns the vhost of a
managed site (`<vhostDir>/<site>.conf`); any other file of the vhost directory that nginx may load
and that serves one of the site's names (primary or alias) is *foreign*:

* serving the site's names only: set aside (renamed to a hidden name no include glob loads) by
  the step that writes the site's vhost; the verify's reason says so;
* serving other names too (another site's, a wildcard, a name git does not declare for it):
  never touched, since setting it aside would take those down. The site's vhost is then not
  written at all (two server blocks for one name: nginx keeps whichever it loaded first, so a
  disabled site could go on being served): a note says which file, which names, and to split it.

PHP's built-in web server (`builtin`) has no such concept: each site is its own server on its own
port, chosen by port, never by name, and nothing includes the files of its directory.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from reconciler.actions.context import SiteContext
from reconciler.drivers.vhost_aside import loadable, set_aside_path
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Server, Site
from reconciler.observe.models import ObservedServer, ObservedVhost

__all__ = [
    "Foreign",
    "VhostDrift",
    "VhostIndex",
    "find_vhost",
    "foreign_vhosts",
    "shared_note",
    "vhost_drift",
    "vhost_reasons",
    "with_foreign_vhosts",
]


@dataclass(frozen=True)
class Foreign:
    """A file other than the site's vhost serving some of its names: `ours` are those (lower
    case, sorted), `others` every other name it serves (as written); `aside` where it goes."""

    path: str
    ours: tuple[str, ...]
    others: tuple[str, ...]
    aside: str

    @property
    def shared(self) -> bool:
        return bool(self.others)


class VhostIndex:
    """A server's vhosts by path, by file name and by server name: `find` in constant time, so
    that planning many sites costs linear time, not quadratic. Files nginx's include glob does
    not load (hidden ones, which the set-aside ones are, and a vhost step's own copies) serve
    nothing and are left out, except from `paths`."""

    def __init__(self, vhosts: Sequence[ObservedVhost]) -> None:
        self.by_path: dict[str, ObservedVhost] = {}
        self.by_file: dict[str, ObservedVhost] = {}
        self.by_name: dict[str, ObservedVhost] = {}
        self.serving: dict[str, list[ObservedVhost]] = {}
        self.paths: set[str] = set()
        for vhost in vhosts:
            self.paths.add(vhost.path)
            if not loadable(vhost.path):
                continue
            self.by_path.setdefault(vhost.path, vhost)
            self.by_file.setdefault(posixpath.basename(vhost.path), vhost)
            for name in vhost.server_names:
                self.by_name.setdefault(name, vhost)
                found = self.serving.setdefault(name.lower(), [])
                if not found or found[-1] is not vhost:
                    found.append(vhost)

    def find(self, site: str, wanted_path: str) -> ObservedVhost | None:
        return (
            self.by_path.get(wanted_path)
            or self.by_file.get(f"{site}.conf")
            or self.by_name.get(site)
        )

    def foreign(self, directory: str, wanted_path: str, names: Iterable[str]) -> list[Foreign]:
        """The files of `directory` other than `wanted_path` serving any of `names`, by path."""
        wanted = {n.lower() for n in names}
        where, own = posixpath.normpath(directory), posixpath.normpath(wanted_path)
        seen: dict[str, ObservedVhost] = {}
        for name in wanted:
            for vhost in self.serving.get(name, ()):
                path = posixpath.normpath(vhost.path)
                if path != own and posixpath.dirname(path) == where:
                    seen.setdefault(vhost.path, vhost)
        found: list[Foreign] = []
        for path in sorted(seen):
            served = seen[path].server_names
            ours = tuple(sorted({n.lower() for n in served if n.lower() in wanted}))
            others = tuple(dict.fromkeys(n for n in served if n.lower() not in wanted))
            # distinct files never get the same aside name: it starts with their own name
            found.append(Foreign(path, ours, others, set_aside_path(path, self.paths)))
        return found


def find_vhost(
    vhosts: Sequence[ObservedVhost], site: str, wanted_path: str
) -> ObservedVhost | None:
    """The site's vhost: the wanted file, else a file named after the site, else the first
    vhost serving its name."""
    return VhostIndex(vhosts).find(site, wanted_path)


def foreign_vhosts(
    vhosts: Sequence[ObservedVhost] | VhostIndex,
    directory: str,
    wanted_path: str,
    names: Iterable[str],
) -> list[Foreign]:
    """The foreign vhosts of a site whose vhost is `wanted_path` in `directory` (resolved, no
    `~/`) and whose names (primary and aliases) are `names`."""
    index = vhosts if isinstance(vhosts, VhostIndex) else VhostIndex(vhosts)
    return index.foreign(directory, wanted_path, names)


def shared_note(site: str, foreign: Foreign, wanted_path: str) -> str:
    """Why the site's vhost is not written: `foreign` serves other names too."""
    return (
        f"Site {site}: its vhost is not written: {foreign.path} serves its names "
        f"{' '.join(foreign.ours)} and also {' '.join(foreign.others)} (another site's, or "
        "names git does not declare for it), so setting that file aside would take those "
        f"down too: split it by hand (move the server blocks of {' '.join(foreign.ours)} out "
        "of it, or take those names out of its server_name lines), reload nginx, then plan "
        f"again; the reconciler then writes {wanted_path}"
    )


def aside_reason(foreign: Foreign) -> str:
    return (
        f"vhost {foreign.path} (not the reconciler's) also serves {' '.join(foreign.ours)}: "
        f"set aside as {foreign.aside}"
    )


@dataclass(frozen=True)
class VhostDrift:
    """A site's vhost drift: `reasons` for a verify, whether the vhost serves the site (`live`,
    None: unknown), the `foreign` files to set aside, and `notes` (the shared foreign files
    that keep the vhost from being written: no reason, `live` None, then)."""

    reasons: tuple[str, ...] = ()
    live: bool | None = None
    foreign: tuple[Foreign, ...] = ()
    notes: tuple[str, ...] = ()


def _resolved(directory: str, home: str | None) -> str:
    if directory.startswith("~/") and home:
        return posixpath.join(home, directory[2:])
    return directory


def vhost_drift(
    manifests: ManifestSet,
    site: Site,
    platform: Platform,
    declared: Server,
    server: ObservedServer,
    index: VhostIndex | None = None,
) -> VhostDrift:
    """Drift of the site's vhost, the foreign vhosts serving its names, and whether its vhost
    serves the site."""
    http = declared.spec.services.http
    if http is None or http.type not in ("nginx", "apache", "builtin"):
        return VhostDrift()
    home = server.home
    directory = _resolved(http.vhost_dir, home)
    wanted_path = f"{directory}/{site.name}.conf"
    found = index if index is not None else VhostIndex(server.vhosts)
    foreign: list[Foreign] = []
    if http.type == "nginx":
        foreign = found.foreign(directory, wanted_path, {site.name, *site.spec.aliases})
        shared = [f for f in foreign if f.shared]
        if shared:
            return VhostDrift(notes=tuple(shared_note(site.name, f, wanted_path) for f in shared))
    aside = tuple(aside_reason(f) for f in foreign)
    vhost = found.find(site.name, wanted_path)
    if vhost is None:
        return VhostDrift((f"vhost {wanted_path} is missing", *aside), None, tuple(foreign))
    if vhost.path in {f.path for f in foreign}:
        # the site is served by a foreign file only: set aside, the site's own vhost written
        live = None if not vhost.server_names else vhost.root is not None
        return VhostDrift((f"vhost {wanted_path} is missing", *aside), live, tuple(foreign))
    if http.type not in ("nginx", "builtin") or not vhost.server_names:
        return VhostDrift(aside, None, tuple(foreign))
    reasons: list[str] = []
    names = set(vhost.server_names)
    want_names = {site.name, *site.spec.aliases} if http.type == "nginx" else {site.name}
    if names != want_names:
        reasons.append(
            f"vhost {vhost.path} serves {' '.join(sorted(names))}, "
            f"want {' '.join(sorted(want_names))}"
        )
    reasons += aside
    if vhost.root is None:
        return VhostDrift(tuple(reasons), False, tuple(foreign))
    codebase = manifests.platform_path(platform)
    docroot = platform.spec.docroot
    want_root = codebase if docroot == "." else f"{codebase}/{docroot}"
    want_root = _resolved(want_root, home)
    if vhost.root != want_root:
        reasons.append(f"vhost {vhost.path} root is {vhost.root}, want {want_root}")
    return VhostDrift(tuple(reasons), True, tuple(foreign))


def vhost_reasons(
    manifests: ManifestSet,
    site: Site,
    platform: Platform,
    declared: Server,
    server: ObservedServer,
    index: VhostIndex | None = None,
) -> tuple[list[str], bool | None]:
    """Drift of the site's vhost, and whether the vhost serves the site (None: unknown)."""
    drift = vhost_drift(manifests, site, platform, declared, server, index)
    return list(drift.reasons), drift.live


def with_foreign_vhosts(
    ctx: SiteContext, observed: dict[str, ObservedServer], *, refuse: bool = True
) -> SiteContext:
    """`ctx` with the other files of its nginx vhost directory that observe found serving only
    the site's names: its vhost step sets them aside. A file serving other names too is never
    set aside: the action is refused (`refuse`), since the site's vhost would not be the one
    nginx uses; a verify (`refuse` False) leaves the vhost alone instead (its plan said so)."""
    http, server = ctx.web.http, observed.get(ctx.web.name)
    if http is None or http.type != "nginx" or server is None or not server.reachable:
        return ctx
    directory, path = ctx.web.vhost_dir, ctx.vhost_path
    if directory is None or path is None:
        return ctx
    found = foreign_vhosts(server.vhosts, directory, path, {ctx.name, *ctx.aliases})
    shared = [f for f in found if f.shared]
    if shared and refuse:
        raise PermanentError(
            "; ".join(shared_note(ctx.name, f, path) for f in shared),
            hint="nothing was changed on the server",
        )
    return replace(ctx, foreign_vhosts=tuple(f.path for f in found if not f.shared))
