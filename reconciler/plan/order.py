"""The order of a plan's actions, and comparison of core versions (pure)."""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence

from reconciler.plan.model import ACTION_KINDS, Action

__all__ = ["core_older", "order_actions"]

_PHASE = {kind: index for index, kind in enumerate(ACTION_KINDS)}
_VERSION_PART_RE = re.compile(r"^(\d+)")


def _parse_version(version: str | None) -> tuple[int, ...] | None:
    if not version:
        return None
    parts: list[int] = []
    for piece in version.split("."):
        match = _VERSION_PART_RE.match(piece)
        if match is None:
            break
        parts.append(int(match.group(1)))
    return tuple(parts) or None


def core_older(target: str | None, current: str | None) -> bool:
    """True when core `target` is known to be older than core `current` (unknown: False)."""
    a, b = _parse_version(target), _parse_version(current)
    return a is not None and b is not None and a < b


def order_actions(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Dependency order; among actions free to go, by phase, server, object name and id."""
    by_id = {a.id: a for a in actions}
    waiting = {a.id: {d for d in a.depends_on if d in by_id} for a in actions}
    users: dict[str, list[str]] = {}
    for ident, deps in waiting.items():
        for dep in deps:
            users.setdefault(dep, []).append(ident)

    def key(a: Action) -> tuple[int, str, str, str]:
        return (_PHASE[a.kind], a.server, a.object_name, a.id)

    ready = [key(by_id[i]) for i, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    out: list[Action] = []
    while ready:
        *_, ident = heapq.heappop(ready)
        out.append(by_id[ident])
        for user in users.get(ident, []):
            waiting[user].discard(ident)
            if not waiting[user]:
                heapq.heappush(ready, key(by_id[user]))
    if len(out) != len(actions):
        stuck = sorted(set(by_id) - {a.id for a in out})
        raise ValueError(f"actions depend on each other in a cycle: {', '.join(stuck)}")
    return tuple(out)
