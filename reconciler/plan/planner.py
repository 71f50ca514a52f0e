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

The rules are carried out by `plan.platforms` (builds, platform deletes, unmanaged objects),
`plan.sites` (installs, drift, deletes) and `plan.moves` (upgrades, database moves, clones), on
the working state of `plan.state`; this module runs them in order and applies `max_deletes`.
The order matters: platforms come before sites (a site waits on its platform's build, and is not
put onto one that cannot be built), and platform deletes come last (they wait on every action
that takes a site off the codebase, sites declared absent and unmanaged ones pruned alike).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer
from reconciler.plan.model import Plan, PlanRefused
from reconciler.plan.order import order_actions
from reconciler.plan.platforms import plan_platform_deletes, plan_platforms, plan_unmanaged
from reconciler.plan.sites import plan_sites
from reconciler.plan.state import PlanState

__all__ = ["make_plan"]


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
    planner = PlanState(manifests, observed, prune)
    planner.observe_servers()
    plan_platforms(planner)
    plan_sites(planner)
    plan_unmanaged(planner)
    plan_platform_deletes(planner)
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
