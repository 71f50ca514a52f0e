"""The planner's working state: the observed servers by name and every site found on them (where
it is), the actions added so far (each with an id unique in the plan), the notes, the unmanaged
objects and the unobserved servers, and what the planning steps leave for one another (the
platforms to be built, the sites to be installed or cloned, the actions taking a site off a
codebase, the platform deletes waiting on those).

`PlanState.observe_servers` fills in what was observed; `plan.platforms`, `plan.sites` and
`plan.moves` add to it; `make_plan` turns it into a `Plan`.
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
from reconciler.plan.drift import VhostIndex
from reconciler.plan.model import Action, ActionKind, Unmanaged

__all__ = ["Place", "PlanState", "codebase_label"]


@dataclass(frozen=True)
class Place:
    """Where a site was found: the server, the codebase it is in, and the site as observed."""

    server: ObservedServer
    codebase: ObservedPlatform
    site: ObservedSite


def codebase_label(codebase: ObservedPlatform) -> str:
    """A codebase as plans name it: its platform's name, or its path when no platform is declared
    there."""
    return codebase.name or codebase.path


@dataclass
class PlanState:
    """What the planning steps read and write; see the module's docstring."""

    manifests: ManifestSet
    observed: Sequence[ObservedServer]
    prune: bool
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    by_server: dict[str, ObservedServer] = field(default_factory=dict)
    found: dict[str, list[Place]] = field(default_factory=dict)
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
                    self.found.setdefault(seen.name, []).append(Place(server, codebase, seen))

    # ------------------------------------------------------------------ targets

    def refused_target(self, site: Site, platform: Platform, verb: str) -> bool:
        """True, with a note, when `site` may not be `verb` (installed, cloned, moved) onto
        `platform`: it is locked, or it is not there and cannot be built."""
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
