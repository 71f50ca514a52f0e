"""The graceful stop gate, and how a batch's action results become the work queue's outcomes."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.actions.script import Step
from reconciler.apply.executor import ActionResult
from reconciler.apply.runner import AnyStep, StepHooks, run_steps
from reconciler.controller.batch import Batch, outcome_of
from reconciler.controller.shutdown import StopGate
from reconciler.controller.workqueue import Outcome
from reconciler.plan.model import Action
from reconciler.transport.local import LocalTransport

REV = "e" * 40


def act(name: str, kind: str = "site.install") -> Action:
    return Action(
        id=f"{kind}:{name}",
        kind=kind,  # type: ignore[arg-type]
        object_kind="Site",
        object_name=name,
        server="web1",
        reason="r",
    )


def test_the_gate_lets_steps_pass_until_stopped() -> None:
    async def scenario() -> None:
        gate = StopGate()
        await gate.before_step(0, object())  # returns at once
        assert gate.enter()
        gate.stop()
        assert not gate.enter()  # no new job once stopping
        held = asyncio.create_task(gate.before_step(1, object()))
        await asyncio.sleep(0)
        assert not held.done() and gate.waiting == 1
        assert await gate.wait_quiet(10)  # the one running action waits between steps
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        assert gate.waiting == 0
        gate.leave()
        assert gate.running == 0

    asyncio.run(scenario())


def test_wait_quiet_gives_up_while_a_step_runs() -> None:
    async def scenario() -> None:
        gate = StopGate()
        assert gate.enter()  # a job that is running its step
        gate.stop()
        assert not await gate.wait_quiet(0.01)
        gate.leave()
        assert await gate.wait_quiet(0.01)

    asyncio.run(scenario())


def test_no_step_starts_after_the_stop() -> None:
    """run_steps with the gate: the step running when the stop comes finishes and is recorded;
    the next one never starts."""

    class Hooks(StepHooks):
        def __init__(self) -> None:
            self.names: list[str] = []

        async def started(self, index: int, step: AnyStep) -> object:
            self.names.append(step.name)
            return None

    async def scenario() -> None:
        gate = StopGate()
        hooks = Hooks()
        steps = [Step("one", "sleep 0.2"), Step("two", "true")]
        transport = LocalTransport("local")
        try:
            task = asyncio.create_task(
                run_steps(steps, {"web": transport}, hooks, before_step=gate.before_step)
            )
            gate.enter_anyway()
            for _ in range(3000):  # a liveness bound of 30 s
                if hooks.names or task.done():
                    break
                await asyncio.sleep(0.01)
            gate.stop()  # while step one runs
            assert await gate.wait_quiet(30)
            assert hooks.names == ["one"]
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await transport.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("result", "transient", "outcome"),
    [
        ("succeeded", False, "ok"),
        ("skipped", False, "skipped"),
        ("failed", True, "transient"),
        ("failed", False, "permanent"),
    ],
)
def test_outcome_of(result: str, transient: bool, outcome: Outcome) -> None:
    found = outcome_of(ActionResult(act("a"), result, transient=transient))  # type: ignore[arg-type]
    assert found == outcome


def test_a_batch_reports_each_object_once_with_its_worst_outcome() -> None:
    verify, enable, other = act("a", "site.verify"), act("a", "site.enable"), act("b")
    batch = Batch(REV, (verify, enable, other))
    assert batch.keys == ["Site/a", "Site/b"]
    assert batch.finish(verify, "transient") is None  # a's enable is still running
    assert batch.finish(other, "ok") == "ok"
    assert batch.unfinished() == ["Site/a"]
    assert batch.finish(enable, "ok") == "transient"
    assert batch.finish(enable, "ok") is None  # counted once
    assert batch.unfinished() == []
