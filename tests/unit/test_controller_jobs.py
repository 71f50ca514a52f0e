"""Cron and scheduled backups as steps, with the step runner replaced by a recorder: where a job
runs, what it runs, and which tarballs a scheduled backup's retention removes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from reconciler.actions.script import Step
from reconciler.apply.runner import ActionOutcome
from reconciler.controller.jobs import Located, cron_step, locate, run_backup, run_cron
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import (
    ObservedBackup,
    ObservedDatabase,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
)
from reconciler.transport.base import Transport
from reconciler.transport.local import LocalTransport
from unit.builders import check, platform, server, site

SITE = "shop.example.com"
BACKUPS = "/var/aegir/backups"


def manifests(**spec: object) -> ManifestSet:
    return check([server("web1"), platform("p1", "web1"), site(SITE, "p1", **spec)]).require()


def observed(platform_name: str | None = "p1", *backup_ids: str) -> list[ObservedServer]:
    seen = ObservedSite(
        name=SITE,
        path=f"/var/aegir/platforms/p1/web/sites/{SITE}",
        database=ObservedDatabase(driver="mysql", name="shop", username="shop"),
    )
    codebase = ObservedPlatform(
        name=platform_name,
        path="/var/aegir/platforms/p1",
        docroot="web",
        core_version="10.3.6",
        sites=(seen,),
    )
    backups = tuple(
        ObservedBackup(
            id=b, site=SITE, path=f"{BACKUPS}/{SITE}/{b}.tar.gz", size=10, time=0.0, mode="0600"
        )
        for b in backup_ids
    )
    return [
        ObservedServer(
            "web1", True, user="aegir", home="/home/aegir", platforms=(codebase,), backups=backups
        )
    ]


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.steps: list[Step] = []
        self.fail_on = fail_on

    async def __call__(
        self, steps: Sequence[Step], transports: Mapping[str, Transport]
    ) -> ActionOutcome:
        assert set(transports) == {"web"}
        self.steps += steps
        failed = any(s.name.startswith(self.fail_on or "\0") for s in steps)
        return ActionOutcome(ok=not failed, error="boom" if failed else None)


def test_locate_finds_a_present_site_on_its_platform_only() -> None:
    found = locate(manifests(), observed(), SITE)
    assert found is not None
    assert found.server.name == "web1" and found.core_version == "10.3.6"
    assert found.ctx.site_dir.endswith(f"/web/sites/{SITE}")
    assert locate(manifests(), observed("p2"), SITE) is None  # being moved: no cron there
    assert locate(manifests(state="disabled"), observed(), SITE) is None
    assert locate(manifests(), observed(), "other.example.com") is None
    down = [ObservedServer("web1", False, error="refused")]
    assert locate(manifests(), down, SITE) is None


def test_cron_is_drush_core_cron_under_the_site_lock() -> None:
    found = locate(manifests(), observed(), SITE)
    assert found is not None
    step = cron_step(found.ctx)
    assert "core:cron" in step.script and f"--uri=http://{SITE}" in step.script
    assert step.lock == f"site-{SITE}.lock"
    recorder = Recorder()

    async def scenario() -> None:
        transport = LocalTransport("web1")
        result = await run_cron(found, transport, recorder)
        assert result.ok
        await transport.close()

    asyncio.run(scenario())
    assert [s.name for s in recorder.steps] == ["core:cron"]


def _located() -> Located:
    found = locate(manifests(), observed(), SITE)
    assert found is not None
    return found


@pytest.mark.parametrize("fail_on", [None, "backup", "prune"])
def test_a_scheduled_backup_then_its_retention(fail_on: str | None) -> None:
    now = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
    old = [f"{SITE}-20240501T0{h}0000Z" for h in (1, 2)] + [f"{SITE}-20240502T010000Z"]
    policy = {"schedule": "daily", "keep": {"daily": 2, "weekly": 0, "monthly": 0}}
    recorder = Recorder(fail_on)

    async def scenario() -> None:
        transport = LocalTransport("web1")
        try:
            result = await run_backup(
                manifests(backups=policy),
                observed("p1", *old),
                _located(),
                {"web1": transport},
                now,
                recorder,
            )
        finally:
            await transport.close()
        assert result.ok is (fail_on is None)
        if fail_on == "prune":
            assert result.error is not None and "taken" in result.error

    asyncio.run(scenario())
    names = [s.name for s in recorder.steps]
    if fail_on == "backup":
        assert names == ["backup"]  # no backup: nothing pruned
        return
    assert names == ["backup", "prune 2 backup(s)"]
    # kept: today's new one and the newest of 2024-05-02; pruned: both of 2024-05-01
    prune = recorder.steps[1].script
    assert f"{SITE}-20240501T010000Z.tar.gz" in prune
    assert f"{SITE}-20240501T020000Z.tar.gz" in prune
    assert "20240502T010000Z" not in prune and "20240503T120000Z" not in prune
