"""The declared state: every valid manifest at one revision, with the rules across documents.

`build_manifest_set` takes the documents that passed their own checks and applies the rules that
need several of them: unique names, references that resolve, aliases claimed once, one codebase
per platform path. Its result is the only input the planner takes from git.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.manifests.models import Document, Platform, Server, Site
from reconciler.manifests.yamldoc import Problem, RawDocument, position_of

__all__ = ["ManifestSet", "build_manifest_set"]


@dataclass(frozen=True)
class ManifestSet:
    """Servers, platforms and sites by name, as declared at `revision`."""

    revision: str
    servers: Mapping[str, Server]
    platforms: Mapping[str, Platform]
    sites: Mapping[str, Site]
    origins: Mapping[tuple[str, str], tuple[str, int]] = field(default_factory=dict)

    def platform_path(self, platform: Platform) -> str:
        """The codebase root of a platform: its `path`, or `<paths.platforms>/<name>`."""
        if platform.spec.path is not None:
            return platform.spec.path
        server = self.servers[platform.spec.server]
        return f"{server.spec.paths.platforms}/{platform.name}"

    def platform_of(self, site: Site) -> Platform:
        return self.platforms[site.spec.platform]

    def db_server_of(self, site: Site) -> Server:
        name = site.spec.db.server or self.platform_of(site).spec.server
        return self.servers[name]

    def counts(self) -> dict[str, int]:
        return {
            "servers": len(self.servers),
            "platforms": len(self.platforms),
            "sites": len(self.sites),
        }


@dataclass
class _Checker:
    entries: list[tuple[RawDocument, Document]]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    servers: dict[str, Server] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    docs: dict[tuple[str, str], RawDocument] = field(default_factory=dict)

    def error(self, doc: RawDocument, loc: list[str | int], message: str, hint: str) -> None:
        line, col = position_of(doc, loc, value=True)
        self.problems.append(Problem(doc.path, line, col, message, hint))

    def warn(self, doc: RawDocument, loc: list[str | int], message: str, hint: str) -> None:
        line, col = position_of(doc, loc, value=True)
        self.warnings.append(Problem(doc.path, line, col, message, hint))

    def collect(self) -> None:
        tables: dict[str, dict[str, Server] | dict[str, Platform] | dict[str, Site]] = {
            "Server": self.servers,
            "Platform": self.platforms,
            "Site": self.sites,
        }
        for doc, model in self.entries:
            key = (model.kind, model.name)
            first = self.docs.get(key)
            if first is not None:
                self.error(
                    doc,
                    ["metadata", "name"],
                    f"{model.kind} {model.name}: declared twice "
                    f"(first at {first.path}:{first.line})",
                    "give each object its own name, or remove one of the two",
                )
                continue
            self.docs[key] = doc
            tables[model.kind][model.name] = model  # type: ignore[assignment]

    def check_servers(self) -> None:
        for server in self.servers.values():
            doc = self.docs[("Server", server.name)]
            spec = server.spec
            if spec.transport == "ssh" and spec.user == "root":
                self.warn(
                    doc,
                    ["spec", "user"],
                    f"Server {server.name}: logging in as root",
                    "a dedicated user (aegir) with sudo for the web server reload only is safer",
                )

    def _one_of(self, names: Mapping[str, object]) -> str:
        listed = ", ".join(sorted(names)[:10])
        return f"declare it, or use one of: {listed}" if listed else "declare it first"

    def check_platforms(self) -> None:
        paths: dict[tuple[str, str], str] = {}
        for platform in self.platforms.values():
            doc = self.docs[("Platform", platform.name)]
            label = f"Platform {platform.name}"
            server = self.servers.get(platform.spec.server)
            if server is None:
                self.error(
                    doc,
                    ["spec", "server"],
                    f"{label}: spec.server: no Server named {platform.spec.server!r}",
                    self._one_of(self.servers),
                )
                continue
            if server.spec.services.http is None:
                self.error(
                    doc,
                    ["spec", "server"],
                    f"{label}: spec.server: Server {server.name} has no http service",
                    f"add `services: {{http: {{...}}}}` to Server {server.name}, or put the "
                    "platform on a web server",
                )
            path = platform.spec.path or f"{server.spec.paths.platforms}/{platform.name}"
            other = paths.get((server.name, path))
            if other is not None:
                self.error(
                    doc,
                    ["spec", "path"],
                    f"{label}: its codebase {path} on {server.name} is also Platform {other}'s",
                    "give each platform its own path",
                )
            paths[(server.name, path)] = platform.name

    def check_sites(self) -> None:
        claimed: dict[str, str] = {}
        for site in self.sites.values():
            for alias in site.spec.aliases:
                claimed.setdefault(alias, site.name)
        for site in self.sites.values():
            self._check_site(site, claimed)

    def _check_site(self, site: Site, claimed: Mapping[str, str]) -> None:
        doc = self.docs[("Site", site.name)]
        label = f"Site {site.name}"
        spec = site.spec
        platform = self.platforms.get(spec.platform)
        if platform is None:
            self.error(
                doc,
                ["spec", "platform"],
                f"{label}: spec.platform: no Platform named {spec.platform!r}",
                self._one_of(self.platforms),
            )
        elif platform.spec.state == "absent" and spec.state != "absent":
            self.error(
                doc,
                ["spec", "platform"],
                f"{label}: spec.platform: Platform {platform.name} is declared absent",
                "move the site to a present platform, or set the site's state to absent",
            )
        db_server_name = spec.db.server or (platform.spec.server if platform else None)
        db_server = self.servers.get(db_server_name) if db_server_name else None
        if spec.db.server is not None and db_server is None:
            self.error(
                doc,
                ["spec", "db", "server"],
                f"{label}: spec.db.server: no Server named {spec.db.server!r}",
                self._one_of(self.servers),
            )
        elif db_server is not None and db_server.spec.services.db is None:
            loc: list[str | int] = (
                ["spec", "db", "server"] if spec.db.server else ["spec", "platform"]
            )
            self.error(
                doc,
                loc,
                f"{label}: its database server {db_server.name} has no db service",
                f"add `services: {{db: {{...}}}}` to Server {db_server.name}, or set "
                "spec.db.server to a server that has one",
            )
        elif (
            db_server is not None
            and platform is not None
            and db_server.spec.services.db is not None
            and db_server.spec.services.db.type == "sqlite"
            and db_server.name != platform.spec.server
        ):
            self.error(
                doc,
                ["spec", "db", "server"],
                f"{label}: spec.db.server: a sqlite database lives on the platform's server "
                f"({platform.spec.server}), not on {db_server.name}",
                "remove spec.db.server, or use a mariadb/mysql server",
            )
        if spec.clone_from is not None:
            if spec.clone_from == site.name:
                self.error(
                    doc,
                    ["spec", "cloneFrom"],
                    f"{label}: spec.cloneFrom: a site cannot be cloned from itself",
                    "name another declared site, or remove cloneFrom",
                )
            elif spec.clone_from not in self.sites:
                self.error(
                    doc,
                    ["spec", "cloneFrom"],
                    f"{label}: spec.cloneFrom: no Site named {spec.clone_from!r}",
                    self._one_of(self.sites),
                )
        seen: set[str] = set()
        for index, alias in enumerate(spec.aliases):
            where: list[str | int] = ["spec", "aliases", index]
            if alias == site.name or alias in seen:
                self.error(
                    doc,
                    where,
                    f"{label}: spec.aliases[{index}]: {alias!r} is listed twice or is the "
                    "site's own name",
                    "remove it",
                )
            elif alias in self.sites:
                self.error(
                    doc,
                    where,
                    f"{label}: spec.aliases[{index}]: {alias!r} is the name of another site",
                    "an alias is never another site's name; remove it from one of them",
                )
            elif claimed.get(alias, site.name) != site.name:
                self.error(
                    doc,
                    where,
                    f"{label}: spec.aliases[{index}]: {alias!r} is already an alias of "
                    f"Site {claimed[alias]}",
                    "each alias belongs to one site only; remove it from one of them",
                )
            seen.add(alias)


def build_manifest_set(
    revision: str, entries: list[tuple[RawDocument, Document]]
) -> tuple[ManifestSet, list[Problem], list[Problem]]:
    """The manifest set, the problems across documents, and the warnings."""
    checker = _Checker(entries)
    checker.collect()
    checker.check_servers()
    checker.check_platforms()
    checker.check_sites()
    origins = {key: (doc.path, doc.line) for key, doc in checker.docs.items()}
    manifests = ManifestSet(revision, checker.servers, checker.platforms, checker.sites, origins)
    return manifests, checker.problems, checker.warnings
