"""The controller's statistics: gathered at its start and at each resync only, never on the
passes a commit, an applied batch or a retry cause; in the background (a pass does not wait for
them); shown until the next gathering, and published when they are in."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from reconciler.controller import engine as engine_module
from reconciler.controller.engine import ControllerConfig, Engine
from reconciler.journal import SQLiteStore
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.source import SourceSpec
from reconciler.observe import stats as stats_module
from reconciler.observe.models import ObservedServer
from reconciler.observe.stats import Stats, StatsKeeper
from reconciler.transport.base import Transport
from unit import builders


class SlowGathering:
    """`gather_stats` that counts its calls and finishes when the test says so."""

    def __init__(self) -> None:
        self.calls = 0
        self.only: list[frozenset[str] | None] = []
        self.release = asyncio.Event()

    async def __call__(
        self,
        manifests: ManifestSet,
        observed: Sequence[ObservedServer],
        transports: Mapping[str, Transport],
        only: frozenset[str] | None = None,
    ) -> Stats:
        self.calls += 1
        self.only.append(only)
        await self.release.wait()
        self.release.clear()
        return Stats(platform_modules={"p1": [{"name": f"gathering {self.calls}"}]})


async def _nothing(*args: object) -> dict[str, object]:
    return {}


async def _observe(*args: object) -> list[ObservedServer]:
    return [ObservedServer(name="web1", reachable=True)]


def test_statistics_at_start_and_resync_only_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gathering = SlowGathering()
    monkeypatch.setattr(stats_module, "gather_stats", gathering)
    monkeypatch.setattr(engine_module, "observe_all", _observe)
    monkeypatch.setattr(engine_module, "check_health", _nothing)
    woken: list[str] = []

    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "journal.sqlite")
        engine = Engine(ControllerConfig(source=SourceSpec()), store)
        engine.wake = woken.append
        engine.manifests = builders.check(builders.baseline()).require()
        for server in engine.manifests.servers.values():
            engine.pool.add(server)
        try:
            await asyncio.wait_for(engine.reconcile({"start"}), 5)  # does not wait for them
            await asyncio.sleep(0.01)  # the task's first step
            assert gathering.calls == 1
            assert engine.snapshot().stats == Stats()  # none yet
            for reasons in ({"changed"}, {"applied"}, {"retry"}, {"poll", "changed"}):
                await engine.reconcile(reasons)
            await engine.reconcile({"resync"})  # the first one still runs: not a second
            assert gathering.calls == 1
            gathering.release.set()
            await asyncio.sleep(0.05)
            assert engine.snapshot().stats.platform_modules == {"p1": [{"name": "gathering 1"}]}
            assert woken == ["publish"]
            for reasons in ({"changed"}, {"applied"}):
                await engine.reconcile(reasons)
            assert gathering.calls == 1
            await engine.reconcile({"resync"})
            await asyncio.sleep(0.01)  # the task's first step
            assert gathering.calls == 2
            assert len(engine.batches) == 1  # cancelled with the batches when stopping
            gathering.release.set()
            await asyncio.sleep(0.05)
            assert engine.snapshot().stats.platform_modules == {"p1": [{"name": "gathering 2"}]}
            assert not engine.batches
            engine._touched = {"a.example.com"}  # an action just finished on it
            await engine.reconcile({"applied"})
            await asyncio.sleep(0.01)
            assert gathering.only == [None, None, frozenset({"a.example.com"})]
            gathering.release.set()
            await asyncio.sleep(0.05)
        finally:
            store.close()

    asyncio.run(scenario())


def test_a_failed_gathering_keeps_the_last_statistics(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> Stats:
        raise RuntimeError("a bug")

    published: list[bool] = []
    keeper = StatsKeeper(lambda: published.append(True))
    keeper.stats = Stats(sqlite_bytes={"a.example": 1})
    monkeypatch.setattr(stats_module, "gather_stats", broken)

    async def scenario() -> None:
        manifests = builders.check(builders.baseline()).require()
        task = keeper.refresh(manifests, [], {})
        assert task is not None
        await task

    asyncio.run(scenario())
    assert keeper.stats == Stats(sqlite_bytes={"a.example": 1})
    assert published == []


def test_a_gathering_of_some_sites_is_merged_into_the_last() -> None:
    old = Stats(
        site_modules={"a": [{"name": "x"}], "b": [{"name": "y"}], "c": [{"name": "z"}]},
        platform_modules={"p1": [{"name": "old"}]},
        sqlite_bytes={"a": 1, "b": 2},
    )
    new = Stats(
        site_modules={"a": [{"name": "x2"}]},  # b did not answer this time
        platform_modules={"p1": [{"name": "new"}]},
        sqlite_bytes={"b": 3},
    )
    found = stats_module.merged(old, new, frozenset({"a", "b"}))
    assert found.site_modules == {"a": [{"name": "x2"}], "c": [{"name": "z"}]}
    assert found.platform_modules == {"p1": [{"name": "new"}]}
    assert found.sqlite_bytes == {"b": 3}
