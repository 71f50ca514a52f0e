"""The long-running controller (`reconciler run`): triggers, the work queue, policies, cron and
scheduled backups, graceful shutdown.

Layer: above `apply`, `observe`, `plan` and `manifests`; below `cli` and `api`.
"""

from __future__ import annotations

__all__: list[str] = []
