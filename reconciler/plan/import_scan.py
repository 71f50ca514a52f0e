"""What `import` finds on one server: undeclared codebases and sites, and what each becomes.

Pure. `Scan` walks one observed server against the declared manifests:

* a codebase under the platforms path that no Platform declares gets a name made from its
  directory (`platform_name`: `Drupal_10.3` -> `drupal-10-3`, `-2`, `-3`, ... when taken);
* a site directory that no Site declares gets a Site spec: the platform it is on, the database
  and user its settings.php names (`db.server` when a declared server other than its own holds
  the database), the vhost's other server names as aliases, `state: disabled` when its vhost is
  the 503 one;
* whatever cannot become a valid manifest that keeps the site as it is, is refused with the
  reason and what to do (`Finding`); what is already declared is skipped.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import API_VERSION, Platform, Server, Site
from reconciler.manifests.names import DNS_LABEL_MAX, SiteName
from reconciler.observe.models import (
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
    ObservedVhost,
)
from reconciler.plan.drift import VhostIndex
from reconciler.plan.import_db import CREDENTIAL_KEYS, adopt_database

__all__ = [
    "Candidate",
    "Finding",
    "Scan",
    "envelope",
    "platform_name",
]

_SITE_NAME: TypeAdapter[str] = TypeAdapter(SiteName)


@dataclass(frozen=True)
class Finding:
    """Something on the server that was not imported, and why."""

    kind: Literal["Platform", "Site"]
    name: str
    path: str
    reason: str


def platform_name(directory: str, taken: Iterable[str] = ()) -> str:
    """A DNS label from a codebase's directory name, not one of `taken`."""
    base = re.sub(r"[^a-z0-9]+", "-", directory.lower()).strip("-")[:DNS_LABEL_MAX].strip("-")
    base = base or "platform"
    used = set(taken)
    name, number = base, 1
    while name in used:
        number += 1
        suffix = f"-{number}"
        name = base[: DNS_LABEL_MAX - len(suffix)].rstrip("-") + suffix
    return name


@dataclass
class Candidate:
    """An undeclared site that can be imported: where it is and its Site spec."""

    codebase: ObservedPlatform
    site: ObservedSite
    platform: str
    spec: dict[str, Any]
    notes: list[str]
    vhost_path: str | None
    wanted_vhost: str


@dataclass
class Scan:
    """The undeclared codebases and sites of one observed server (`seen`), declared `server`;
    `observed` holds every server observed (database listings of other servers)."""

    manifests: ManifestSet
    observed: Mapping[str, ObservedServer]
    server: Server
    seen: ObservedServer
    refused: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    platforms: dict[str, tuple[ObservedPlatform, str]] = field(default_factory=dict)
    """Imported platform name -> (codebase, reason it is refused or "")."""
    by_path: dict[str, str] = field(default_factory=dict)
    sites: dict[str, Candidate] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)
    vhosts: VhostIndex | None = None

    def run(self) -> Scan:
        self.collect_platforms()
        self.collect_sites()
        return self

    def platform_spec(self, name: str) -> dict[str, Any]:
        codebase = self.platforms[name][0]
        return _platform_spec(self.server, codebase)

    def refuse(self, kind: Literal["Platform", "Site"], name: str, path: str, why: str) -> None:
        self.refused.append(Finding(kind, name, path, why))

    # ---------------------------------------------------------------- platforms

    def collect_platforms(self) -> None:
        taken = set(self.manifests.platforms)
        for codebase in sorted(self.seen.platforms, key=lambda p: p.path):
            if codebase.name is not None:
                self.by_path[codebase.path] = codebase.name
                continue
            if not codebase.exists:
                self.skipped.append(
                    Finding(
                        "Platform",
                        posixpath.basename(codebase.path),
                        codebase.path,
                        "no Drupal codebase there (core/lib/Drupal.php under web/, docroot/, "
                        "html/ or the directory itself)",
                    )
                )
                continue
            name = platform_name(posixpath.basename(codebase.path), taken)
            taken.add(name)
            problem = _platform_problem(self.server, name, codebase)
            if problem:
                self.refuse("Platform", name, codebase.path, problem)
            self.platforms[name] = (codebase, problem)
            self.by_path[codebase.path] = name

    # ---------------------------------------------------------------- sites

    def collect_sites(self) -> None:
        for declared_site in self.manifests.sites.values():
            for alias in declared_site.spec.aliases:
                self.claimed.setdefault(alias, declared_site.name)
        places: dict[str, list[tuple[ObservedPlatform, ObservedSite]]] = {}
        for codebase in self.seen.platforms:
            for site in codebase.sites:
                places.setdefault(site.name, []).append((codebase, site))
        observed_names = set(places)
        for name in sorted(places):
            copies = sorted(places[name], key=lambda p: p[0].path)
            if name in self.manifests.sites:
                on = self.manifests.sites[name].spec.platform
                for _, site in copies:
                    why = f"already declared in git (on platform {on})"
                    self.skipped.append(Finding("Site", name, site.path, why))
                continue
            chosen = self._choose(name, copies)
            for other in copies:
                if other is not chosen:
                    self.refuse(
                        "Site",
                        name,
                        other[1].path,
                        f"another copy of the site, at {chosen[1].path}, is imported "
                        "(the one its vhost serves); a site is declared once: remove this copy",
                    )
            self._site(name, *chosen, observed_names)

    def _wanted_vhost(self, name: str) -> str:
        http = self.server.spec.services.http
        directory = http.vhost_dir if http is not None else ""
        home = self.seen.home
        if directory.startswith("~/") and home:
            directory = posixpath.join(home, directory[2:])
        return f"{directory}/{name}.conf"

    def _find_vhost(self, name: str) -> ObservedVhost | None:
        if self.vhosts is None:
            self.vhosts = VhostIndex(self.seen.vhosts)
        return self.vhosts.find(name, self._wanted_vhost(name))

    def _choose(
        self, name: str, copies: list[tuple[ObservedPlatform, ObservedSite]]
    ) -> tuple[ObservedPlatform, ObservedSite]:
        vhost = self._find_vhost(name)
        for copy in copies:
            if vhost is not None and vhost.root == _docroot_path(copy[0]):
                return copy
        return copies[0]

    def _site(
        self, name: str, codebase: ObservedPlatform, site: ObservedSite, observed_names: set[str]
    ) -> None:
        platform = self.by_path.get(codebase.path)
        why = self._site_problem(name, site, platform)
        if why is not None or platform is None:
            self.refuse("Site", name, site.path, why or "its codebase is not a platform")
            return
        db, db_notes = adopt_database(self.manifests, self.observed, self.server, name, site)
        if isinstance(db, str):
            self.refuse("Site", name, site.path, db)
            return
        spec: dict[str, Any] = {"platform": platform, **({"db": db} if db else {})}
        vhost_path, notes = self._vhost(name, spec, observed_names)
        wanted = self._wanted_vhost(name)
        candidate = Candidate(codebase, site, platform, spec, db_notes + notes, vhost_path, wanted)
        try:
            Site.model_validate(envelope("Site", name, spec))
        except ValidationError as exc:
            self.refuse("Site", name, site.path, f"its manifest would not be valid: {_errors(exc)}")
            return
        self.sites[name] = candidate
        for alias in spec.get("aliases", ()):
            self.claimed[alias] = name

    def _site_problem(self, name: str, site: ObservedSite, platform: str | None) -> str | None:
        if name == "default":
            return (
                "sites/default is Drupal's default site directory, not a named site: move it to "
                "sites/<its domain>, map that name in sites/sites.php, then import again"
            )
        try:
            _SITE_NAME.validate_python(name)
        except ValidationError:
            return (
                f"{name!r} is not a lower-case host name, which a Site's name (its directory) "
                "must be: rename the directory to the site's domain, then import again"
            )
        if name in self.claimed:
            return (
                f"{name} is an alias of Site {self.claimed[name]} in git, and an alias is "
                "never another site's name: remove the alias from that Site, then import again"
            )
        if platform in self.platforms and self.platforms[platform][1]:
            return f"its platform {platform} cannot be imported: {self.platforms[platform][1]}"
        declared = self.manifests.platforms.get(platform or "")
        if declared is not None and declared.spec.state == "absent":
            return f"its platform {platform} is declared absent in git"
        if site.settings_error:
            return f"its settings.php could not be read: {site.settings_error}"
        db = site.database
        if db is None:
            included = f" (it includes {', '.join(site.includes)})" if site.includes else ""
            return (
                f"its settings.php holds no database settings{included}: the reconciler reads "
                "and writes a site's credentials in its settings.php only: put them there, "
                "then import again"
            )
        dynamic = sorted(CREDENTIAL_KEYS & set(db.dynamic))
        if dynamic:
            keys = "all of them" if "*" in dynamic else ", ".join(dynamic)
            return (
                f"its settings.php computes its database credentials at run time ({keys}), "
                "as Aegir's does from the $_SERVER[...] values its vhost sets; the reconciler "
                "reads, backs up and rewrites credentials in settings.php only: move the "
                "credentials into settings.php as plain values, then import again"
            )
        return None

    def _vhost(
        self, name: str, spec: dict[str, Any], observed_names: set[str]
    ) -> tuple[str | None, list[str]]:
        """The site's vhost (its path), and what it tells: `state: disabled` for the 503 one,
        its other server names as aliases, with a note on the ones that cannot be."""
        http = self.server.spec.services.http
        if http is None or http.type not in ("nginx", "builtin"):
            return None, []
        vhost = self._find_vhost(name)
        if vhost is None:
            return None, []
        if vhost.server_names and vhost.root is None:
            spec["state"] = "disabled"
        if http.type != "nginx":
            return vhost.path, []
        aliases: list[str] = []
        dropped: list[str] = []
        for raw in vhost.server_names:
            alias = raw.lower()
            if alias == name or alias in aliases:
                continue
            owner = self.claimed.get(alias)
            if (
                not _valid_name(alias)
                or alias in observed_names
                or alias in self.manifests.sites
                or (owner is not None and owner != name)
            ):
                dropped.append(raw)
                continue
            aliases.append(alias)
        if aliases:
            spec["aliases"] = sorted(aliases)
        notes = []
        if dropped:
            notes.append(
                f"Site {name}: its vhost {vhost.path} also serves {' '.join(dropped)}, which "
                "cannot be aliases (not a host name, or another site's name or alias): "
                "not imported, so a vhost repair serves the site without them"
            )
        return vhost.path, notes


def _valid_name(name: str) -> bool:
    try:
        _SITE_NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def _docroot_path(codebase: ObservedPlatform) -> str:
    docroot = codebase.docroot or "."
    return codebase.path if docroot == "." else f"{codebase.path}/{docroot}"


def _platform_spec(server: Server, codebase: ObservedPlatform) -> dict[str, Any]:
    return {
        "server": server.name,
        "path": codebase.path,
        "docroot": codebase.docroot or "web",
        "source": {"existing": True},
    }


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _platform_problem(server: Server, name: str, codebase: ObservedPlatform) -> str:
    try:
        Platform.model_validate(envelope("Platform", name, _platform_spec(server, codebase)))
    except ValidationError as exc:
        return f"its manifest would not be valid ({_errors(exc)}): rename or move the codebase"
    return ""


def envelope(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A whole manifest document as data."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}
