"""The long-running controller (`reconciler run`): triggers, the work queue, policies, cron and
scheduled backups, graceful shutdown.

Layer: above `apply`, `observe`, `plan` and `manifests`; below `cli` and `api`.

* `workqueue`, `schedule`, `cronexpr`, `policy`: pure (an injected clock), tested as tables;
* `engine`: one reconciliation pass and the state the status is made from; `batch`: a dispatch;
* `loop`: `Controller`, the long-running loop (leadership, resume, triggers, jobs, stop);
* `triggers`: file watching of a local repository; `jobs`: cron and scheduled backups;
* `shutdown`: the stop gate (no new step after SIGTERM) and the signal handlers.
"""

from __future__ import annotations

from reconciler.controller.engine import ControllerConfig, Engine, Snapshot
from reconciler.controller.loop import Controller
from reconciler.controller.workqueue import Backoff, WorkQueue

__all__ = ["Backoff", "Controller", "ControllerConfig", "Engine", "Snapshot", "WorkQueue"]
