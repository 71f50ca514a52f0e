"""The plan's values: `Action` (an intent with its reason), `Plan`, and `PlanRefused`.

A plan holds intents, never commands: apply renders the commands of each action's steps just
before it runs them, from the manifests at the plan's revision and a fresh look at the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reconciler.errors import PermanentError

__all__ = [
    "ACTION_KINDS",
    "Action",
    "ActionKind",
    "Change",
    "Plan",
    "PlanRefused",
    "Summary",
    "Unmanaged",
    "change_of",
]

ActionKind = Literal[
    "platform.build",
    "platform.delete",
    "site.install",
    "site.clone",
    "site.upgrade",
    "site.enable",
    "site.disable",
    "site.verify",
    "site.delete",
]
Change = Literal["add", "change", "delete"]

ACTION_KINDS: dict[str, Change] = {
    "platform.build": "add",
    "site.install": "add",
    "site.clone": "add",
    "site.upgrade": "change",
    "site.enable": "change",
    "site.disable": "change",
    "site.verify": "change",
    "site.delete": "delete",
    "platform.delete": "delete",
}
"""Every action kind and what it counts as in the summary line, in the order of phases."""


def change_of(kind: str) -> Change:
    return ACTION_KINDS[kind]


@dataclass(frozen=True)
class Action:
    """One intent: what to do to which object on which server, and why.

    `id` is stable across runs of the same plan (`site.install:www.example.com`); `depends_on`
    lists the ids that must succeed first. `path` is the observed path of the object acted on
    (for deletes and verifies), `platform` the platform the action targets (install, clone,
    upgrade), `source` the site a clone copies or the platform an upgrade leaves.
    """

    id: str
    kind: ActionKind
    object_kind: Literal["Site", "Platform"]
    object_name: str
    server: str
    reason: str
    depends_on: tuple[str, ...] = ()
    path: str | None = None
    platform: str | None = None
    source: str | None = None

    @property
    def change(self) -> Change:
        return change_of(self.kind)


@dataclass(frozen=True)
class Unmanaged:
    """A site or platform found on a server but not declared in git."""

    kind: Literal["Site", "Platform"]
    name: str
    server: str
    path: str


@dataclass(frozen=True)
class Summary:
    add: int = 0
    change: int = 0
    delete: int = 0


@dataclass(frozen=True)
class Plan:
    """The ordered actions from the manifests at `revision` to what the servers hold.

    `actions` are in dependency order (every action after the ones it depends on). `notes` say
    what was not planned and why (a refused upgrade, a platform still in use, a server that could
    not be observed); `unobserved` names the servers whose objects were not planned at all, which
    makes the plan incomplete.
    """

    revision: str
    actions: tuple[Action, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    notes: tuple[str, ...] = ()
    unobserved: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        counts = {"add": 0, "change": 0, "delete": 0}
        for action in self.actions:
            counts[action.change] += 1
        return Summary(**counts)

    @property
    def complete(self) -> bool:
        return not self.unobserved

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def deletes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.change == "delete")


class PlanRefused(PermanentError):
    """The plan would delete more than `--max-deletes` allows; nothing is to be applied.

    `plan` is the refused plan, so that a command can still show what it would have done.
    """

    def __init__(self, message: str, *, plan: Plan, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.plan = plan
