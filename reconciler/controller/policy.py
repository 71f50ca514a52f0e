"""Which of a plan's actions the controller applies now, and why the others wait.

Pure. The plan is always made (and shown) whole; `select` picks what `--auto-apply` runs:

* an object being processed, in backoff after a transient failure, or failed permanently at
  this revision (CONTRACT.md section 3: not retried until a new commit) is held;
* `site.verify` repairs drift. With `--self-heal` it always runs. Without it, drift is reported
  only, as Argo CD does without selfHeal: a verify runs for an object only while that object has
  not been converged at the plan's revision yet (a new commit may have changed what is declared,
  and syncing a commit syncs everything), never for drift that appears on an object already
  converged at that revision;
* an action that depends on a held one is held too (it would otherwise run without it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.controller.workqueue import WorkQueue, object_key
from reconciler.manifests.manifestset import ManifestSet
from reconciler.plan.model import Action, Plan

__all__ = ["Selection", "action_key", "objects_on", "select"]

DRIFT_ONLY = "drift is reported only: run with --self-heal to repair it"


def action_key(action: Action) -> str:
    return object_key(action.object_kind, action.object_name)


@dataclass(frozen=True)
class Selection:
    """`apply`: the actions to run now, in the plan's order; `held`: action id -> why not."""

    apply: tuple[Action, ...] = ()
    held: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return sorted({action_key(a) for a in self.apply})


def select(
    plan: Plan,
    queue: WorkQueue,
    *,
    self_heal: bool,
    converged: Mapping[str, str],
    failed_before: Callable[[Action], bool] = lambda action: False,
) -> Selection:
    """The actions of `plan` to apply now. `converged` maps an object's key to the revision it
    was last converged at; `failed_before(action)` asks the journal whether that action failed
    at the plan's revision already (before a restart, or by another controller)."""
    held: dict[str, str] = {}
    chosen: list[Action] = []
    for action in plan.actions:  # dependency order: a dependency is decided before its users
        key = action_key(action)
        reason = queue.blocked(key, plan.revision)
        if reason is None and failed_before(action):
            reason = "failed at this revision; a new commit (or `reconciler apply`) tries again"
        if (
            reason is None
            and action.kind == "site.verify"
            and not self_heal
            and converged.get(key) == plan.revision
        ):
            reason = DRIFT_ONLY
        if reason is None:
            waiting = [dep for dep in action.depends_on if dep in held]
            if waiting:
                reason = f"waits for {waiting[0]}"
        if reason is None:
            chosen.append(action)
        else:
            held[action.id] = reason
    return Selection(tuple(chosen), held)


def objects_on(manifests: ManifestSet, servers: Iterable[str]) -> list[str]:
    """The keys of the declared objects that live on any of `servers`: platforms on them, and
    sites whose platform or database server is one of them."""
    names = set(servers)
    keys = [
        object_key("Platform", p.name)
        for p in manifests.platforms.values()
        if p.spec.server in names
    ]
    for site in manifests.sites.values():
        platform = manifests.platforms.get(site.spec.platform)
        db = site.spec.db.server
        if (platform is not None and platform.spec.server in names) or db in names:
            keys.append(object_key("Site", site.name))
    return sorted(keys)
