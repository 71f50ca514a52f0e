"""Running one action's steps on its servers: check, body, markers, undo on failure, redaction.

The only I/O here is through the transports given; everything a step runs was rendered by the
action's pure builder just before (see `reconciler.actions.script`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reconciler.actions.script import (
    DONE,
    SKIPPED,
    Step,
    Transfer,
    render_step,
    step_argv,
    stream_argv,
)
from reconciler.drivers.drush_output import redact
from reconciler.errors import ReconcilerError
from reconciler.journal.model import cap_tail
from reconciler.transport.base import CommandResult, Process, Transport

__all__ = [
    "ActionOutcome",
    "AnyStep",
    "StepHooks",
    "StepOutcome",
    "run_step",
    "run_steps",
    "run_transfer",
]

AnyStep = Step | Transfer

StepStatus = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class StepOutcome:
    name: str
    status: StepStatus
    output: str = ""
    """The step's output, secrets removed, capped (kept for errors and the journal)."""
    error: str | None = None


@dataclass
class ActionOutcome:
    ok: bool
    steps: list[StepOutcome] = field(default_factory=list)
    error: str | None = None
    undone: bool = False
    transient: bool = False
    results: dict[str, CommandResult] = field(default_factory=dict)
    """The raw result of each step that ran, by step name: for the action's own parsing. Holds
    unredacted output: never log or journal it."""


class StepHooks:
    """Journal callbacks; the default records nothing."""

    async def started(self, index: int, step: AnyStep) -> object:
        return None

    async def ended(self, token: object, outcome: StepOutcome) -> None:
        return None


def _clean(text: str, secrets: Sequence[str]) -> str:
    return cap_tail(redact(text, [s for s in secrets if s]).strip())


def _summary(result: CommandResult, secrets: Sequence[str]) -> str:
    out = result.out.replace(DONE, "").replace(SKIPPED, "")
    both = "\n".join(part for part in (result.err.strip(), out.strip()) if part)
    return _clean(both, secrets)


async def run_step(
    step: Step, transports: Mapping[str, Transport], *, undo: bool = False
) -> tuple[StepOutcome, CommandResult | None]:
    """Run one step (its check, then its body) on the server it names, holding its lock."""
    transport = transports.get(step.on)
    if transport is None:
        return StepOutcome(step.name, "failed", error=f"no {step.on} server for this step"), None
    script = render_step(step, undo=undo)
    try:
        result = await transport.run(
            step_argv(step.lock), input=script.encode(), timeout=step.timeout
        )
    except ReconcilerError as exc:
        message = _clean(f"{exc}", step.secrets)
        return StepOutcome(step.name, "failed", error=message), None
    output = _summary(result, step.secrets)
    if SKIPPED in result.out and result.ok:
        return StepOutcome(step.name, "skipped", output), result
    if DONE not in result.out or not result.ok:
        last = output.splitlines()[-1] if output else "no output"
        explained = step.explain(result)
        if explained is not None:
            return (
                StepOutcome(step.name, "failed", output, error=_clean(explained, step.secrets)),
                result,
            )
        return (
            StepOutcome(
                step.name,
                "failed",
                output,
                error=f"step {step.name} failed on {transport.server} "
                f"(exit {result.exit_status}): {last}",
            ),
            result,
        )
    problem = None if undo else step.expect(result)
    if problem is not None:
        return StepOutcome(step.name, "failed", output, error=_clean(problem, step.secrets)), result
    return StepOutcome(step.name, "done", output), result


async def _pump(source: Process, dest: Process, rewrite: Callable[[bytes], bytes] | None) -> int:
    """Copy source's stdout into dest's stdin (through `rewrite`, whole lines at a time)."""
    total = 0
    pending = b""
    while True:
        chunk = await source.read(1 << 20)
        if not chunk:
            break
        if rewrite is not None:
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if not cut:
                continue
            chunk, pending = rewrite(pending[:cut]), pending[cut:]
        total += len(chunk)
        await dest.write(chunk)
    if pending and rewrite is not None:
        tail = rewrite(pending)
        total += len(tail)
        await dest.write(tail)
    await dest.close_stdin()
    return total


def _side_failed(
    transfer: Transfer, side: str, result: CommandResult, *, early: bool = False
) -> StepOutcome:
    output = _clean(result.err, transfer.secrets)
    last = output.splitlines()[-1] if output else "no output"
    status = "exited before it had read all the data" if early else f"exit {result.exit_status}"
    error = f"step {transfer.name} failed on the {side} {result.server} ({status}): {last}"
    return StepOutcome(transfer.name, "failed", output, error=error)


async def run_transfer(
    transfer: Transfer, transports: Mapping[str, Transport]
) -> tuple[StepOutcome, CommandResult | None]:
    """Stream from the source server to the destination through the controller."""
    source = transports.get(transfer.source_on)
    dest = transports.get(transfer.on)
    if source is None or dest is None:
        missing = transfer.source_on if source is None else transfer.on
        return StepOutcome(transfer.name, "failed", error=f"no {missing} server"), None
    if transfer.check is not None:
        probe, raw = await run_step(transfer.as_step(":\n"), transports)
        if probe.status == "skipped" or raw is None:
            return probe, raw
    try:
        reader = await source.stream(stream_argv(transfer.source_script, transfer.source_lock))
        writer = await dest.stream(stream_argv(transfer.script, transfer.lock))
        try:
            moved = await _pump(reader, writer, transfer.rewrite)
        except ConnectionError:
            # the destination stopped reading (it exited): its exit status says why, and the
            # source, which would block on its full pipe until the timeout, is stopped
            await reader.abort()
            got = await writer.wait(timeout=transfer.timeout)
            return _side_failed(transfer, "destination", got, early=got.ok), got
        sent = await reader.wait(timeout=transfer.timeout)
        got = await writer.wait(timeout=transfer.timeout)
    except ReconcilerError as exc:
        return StepOutcome(transfer.name, "failed", error=_clean(f"{exc}", transfer.secrets)), None
    for side, result in (("source", sent), ("destination", got)):
        if not result.ok:
            return _side_failed(transfer, side, result), result
    return StepOutcome(transfer.name, "done", f"{moved} bytes transferred"), got


async def run_steps(
    steps: Sequence[AnyStep],
    transports: Mapping[str, Transport],
    hooks: StepHooks | None = None,
    *,
    before_step: Callable[[int, AnyStep], Awaitable[None]] | None = None,
) -> ActionOutcome:
    """Run `steps` in order; at the first failure run the undos of the steps before it (newest
    first) and stop. A step whose check says it is done is skipped."""
    hooks = hooks or StepHooks()
    outcome = ActionOutcome(ok=True)
    for index, step in enumerate(steps):
        if before_step is not None:
            await before_step(index, step)
        token = await hooks.started(index, step)
        if isinstance(step, Transfer):
            result, raw = await run_transfer(step, transports)
        else:
            result, raw = await run_step(step, transports)
        await hooks.ended(token, result)
        outcome.steps.append(result)
        if raw is not None:
            outcome.results[step.name] = raw
        if result.status != "failed":
            continue
        outcome.ok = False
        outcome.error = result.error
        outcome.transient = raw is None
        if raw is not None:
            outcome.undone = await _undo(steps[:index], transports)
        return outcome
    return outcome


async def _undo(done: Sequence[AnyStep], transports: Mapping[str, Transport]) -> bool:
    undone = False
    for step in reversed(done):
        if step.undo is None:
            continue
        plain = step.as_step(":\n") if isinstance(step, Transfer) else step
        result, _ = await run_step(plain, transports, undo=True)
        undone = True
        if result.status == "failed":
            return False
    return undone
