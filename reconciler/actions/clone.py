"""The steps of a clone (a new site copied from an existing one).

Placeholder until the clone steps land: applying a clone fails with a clear message.
"""

from __future__ import annotations

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Step, Transfer
from reconciler.errors import PermanentError

__all__ = ["clone_steps"]


def clone_steps(target: SiteContext, source: SiteContext) -> list[Step | Transfer]:
    raise PermanentError(
        f"Site {target.name}: clones cannot be applied by this version yet",
        hint="plan shows the clone; apply it with a later release",
    )
