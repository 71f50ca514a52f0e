"""The steps of a site's upgrade (a move to another platform, on this or another server).

Placeholder until the upgrade steps land: applying an upgrade fails with a clear message.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Step, Transfer
from reconciler.errors import PermanentError

__all__ = ["upgrade_steps"]


def upgrade_steps(
    old: SiteContext, new: SiteContext, *, backup: Sequence[Step], core_version: str | None
) -> list[Step | Transfer]:
    raise PermanentError(
        f"Site {old.name}: upgrades cannot be applied by this version yet",
        hint="plan shows the upgrade; apply it with a later release",
    )
