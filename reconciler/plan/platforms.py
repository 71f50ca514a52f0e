"""Platform planning: `platform.build` for a declared platform whose codebase is not there,
`platform.delete` for one declared absent or (with `--prune`) a codebase git does not declare,
refused while sites stay on it, and the `Unmanaged` listing (with the `site.delete` of each
unmanaged site under `--prune`).
"""

from __future__ import annotations

from reconciler.manifests.models import Platform
from reconciler.observe.models import ObservedServer
from reconciler.plan.model import Unmanaged
from reconciler.plan.state import PlanState, codebase_label

__all__ = ["plan_platform_deletes", "plan_platforms", "plan_unmanaged"]


def plan_platforms(state: PlanState) -> None:
    for name in sorted(state.manifests.platforms):
        platform = state.manifests.platforms[name]
        server = state.reachable(platform.spec.server)
        if server is None:
            state.unavailable.add(name)
            continue
        path = state.manifests.platform_path(platform)
        seen = state.codebase(server, name)
        present = seen is not None and seen.exists
        if platform.spec.state == "absent":
            if present and seen is not None:
                state.pending_platform_deletes.append(
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
                state.notes.append(
                    f"Platform {name}: its docroot on {server.name} is {seen.docroot!r}, "
                    f"declared {platform.spec.docroot!r}; a platform is never rebuilt in "
                    "place: fix the manifest, or build a new platform and move the sites"
                )
            continue
        _plan_build(state, platform, server, path)


def _plan_build(state: PlanState, platform: Platform, server: ObservedServer, path: str) -> None:
    git = platform.spec.source.git
    if git is None:
        state.unavailable.add(platform.name)
        state.notes.append(
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
    state.built[platform.name] = state.add(
        "platform.build", "Platform", platform.name, server.name, reason, path=path
    )


def plan_unmanaged(state: PlanState) -> None:
    for server in sorted(state.observed, key=lambda o: o.name):
        if not server.reachable:
            continue
        for codebase in sorted(server.platforms, key=lambda p: p.path):
            if not codebase.exists:
                continue
            for seen in sorted(codebase.sites, key=lambda s: s.name):
                if seen.name in state.manifests.sites:
                    continue
                state.unmanaged.append(Unmanaged("Site", seen.name, server.name, seen.path))
                if state.prune:
                    ident = state.add(
                        "site.delete",
                        "Site",
                        seen.name,
                        server.name,
                        f"Unmanaged (on {server.name} at {seen.path}, not declared in git) "
                        "and --prune is given (apply takes a backup first)",
                        path=seen.path,
                        platform=codebase_label(codebase),
                    )
                    state.leaving[(server.name, codebase.path, seen.name)] = ident
            if codebase.name is None:
                state.unmanaged.append(
                    Unmanaged("Platform", codebase.path, server.name, codebase.path)
                )
                if state.prune:
                    state.pending_platform_deletes.append(
                        (
                            server,
                            codebase,
                            codebase.path,
                            f"Unmanaged (a codebase on {server.name} not declared in git) "
                            "and --prune is given",
                        )
                    )


def plan_platform_deletes(state: PlanState) -> None:
    for server, codebase, name, reason in state.pending_platform_deletes:
        staying = [
            s.name
            for s in codebase.sites
            if (server.name, codebase.path, s.name) not in state.leaving
        ]
        if staying:
            listed = ", ".join(sorted(staying)[:5])
            more = f" and {len(staying) - 5} more" if len(staying) > 5 else ""
            state.notes.append(
                f"Platform {name}: not deleted: sites are still on it on {server.name} "
                f"({listed}{more}); delete or move them first"
            )
            continue
        deps = [state.leaving[(server.name, codebase.path, s.name)] for s in codebase.sites]
        state.add(
            "platform.delete",
            "Platform",
            name,
            server.name,
            reason,
            depends_on=deps,
            path=codebase.path,
        )
