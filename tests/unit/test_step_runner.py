"""Steps run through the local transport: the check skips a done step, a failure runs the undos
of the steps before it (newest first), output is redacted, and a lock makes a second runner wait.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from reconciler.actions.script import Script, Step, Transfer, render_step, step_argv
from reconciler.apply.runner import run_step, run_steps
from reconciler.transport.local import LocalTransport


def _t() -> dict[str, LocalTransport]:
    return {"web": LocalTransport("local")}


def test_a_step_whose_check_passes_is_skipped(tmp_path: Path) -> None:
    marker = tmp_path / "made"
    step = Step(
        name="make",
        script=Script().run("touch", str(marker)).text(),
        check=f"test -e '{marker}'",
    )
    first = asyncio.run(run_steps([step], _t()))
    assert first.ok and first.steps[0].status == "done"
    second = asyncio.run(run_steps([step], _t()))
    assert second.ok and second.steps[0].status == "skipped"


def test_a_failure_undoes_earlier_steps_newest_first(tmp_path: Path) -> None:
    log = tmp_path / "log"
    steps = [
        Step(
            name=f"s{i}",
            script=f"echo do{i} >> '{log}'\n",
            undo=f"echo undo{i} >> '{log}'\n",
        )
        for i in range(3)
    ]
    steps.append(Step(name="boom", script="echo 'it broke' >&2\nexit 3\n"))
    outcome = asyncio.run(run_steps(steps, _t()))
    assert not outcome.ok and outcome.undone
    assert outcome.error is not None and "boom" in outcome.error and "it broke" in outcome.error
    assert log.read_text().split() == ["do0", "do1", "do2", "undo2", "undo1", "undo0"]


def test_a_script_that_stops_early_is_a_failure_even_with_exit_0() -> None:
    step = Step(name="early", script="exit 0\n")
    result, _ = asyncio.run(run_step(step, _t()))
    assert result.status == "failed"


def test_secrets_are_removed_from_kept_output() -> None:
    secret = "s3cr3t-Value-That-Must-Not-Show"
    step = Step(name="leak", script=f"echo 'password={secret}'\nexit 1\n", secrets=(secret,))
    result, _ = asyncio.run(run_step(step, _t()))
    assert result.status == "failed"
    assert secret not in result.output and secret not in (result.error or "")


def test_expect_turns_a_done_step_into_a_failure() -> None:
    step = Step(name="health", script="echo HTTP=500\n", expect=lambda r: "got 500")
    result, _ = asyncio.run(run_step(step, _t()))
    assert result.status == "failed" and result.error == "got 500"


def test_content_travels_in_the_script_not_on_a_command_line(tmp_path: Path) -> None:
    target = tmp_path / "settings.php"
    content = "<?php\n$x = '$HOME `id` \\' \"';\n"
    step = Step(name="write", script=Script().write_file(str(target), content, "0440").text())
    script = render_step(step)
    assert content in script
    assert step_argv("site-x.lock")[:2] == ["sh", "-c"]
    assert content not in " ".join(step_argv("site-x.lock"))
    result, _ = asyncio.run(run_step(step, _t()))
    assert result.status == "done"
    assert target.read_text() == content
    assert oct(target.stat().st_mode & 0o777) == "0o440"


def test_a_held_lock_makes_the_next_step_wait(tmp_path: Path) -> None:
    log = tmp_path / "order"
    lock = f"test-{tmp_path.name}.lock"
    slow = Step(name="slow", script=f"sleep 1\necho slow >> '{log}'\n", lock=lock)
    fast = Step(name="fast", script=f"echo fast >> '{log}'\n", lock=lock)

    async def both() -> float:
        first = asyncio.create_task(run_step(slow, _t()))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        await run_step(fast, _t())
        waited = time.monotonic() - began
        await first
        return waited

    waited = asyncio.run(both())
    assert log.read_text().split() == ["slow", "fast"]
    assert waited > 0.3


def test_a_transfer_streams_through_the_rewrite(tmp_path: Path) -> None:
    target = tmp_path / "copy"
    lines = b"".join(b"row %d sites/old.example.com/files\n" % i for i in range(50_000))
    source_file = tmp_path / "dump"
    source_file.write_bytes(lines)
    transfer = Transfer(
        name="copy",
        source_on="src",
        source_script=f"cat '{source_file}'\n",
        script=f"cat > '{target}'\n",
        on="web",
        rewrite=lambda data: data.replace(b"sites/old.example.com", b"sites/new.example.com"),
    )
    transports = {"web": LocalTransport("a"), "src": LocalTransport("b")}
    outcome = asyncio.run(run_steps([transfer], transports))
    assert outcome.ok, outcome.error
    assert target.read_bytes() == lines.replace(b"old.example.com", b"new.example.com")


def test_a_failing_transfer_side_is_named_and_undone(tmp_path: Path) -> None:
    made = tmp_path / "made"
    first = Step(name="make", script=f"touch '{made}'\n", undo=f"rm -f '{made}'\n")
    transfer = Transfer(
        name="copy", source_on="web", source_script="echo nope >&2; exit 4\n", script="cat\n"
    )
    outcome = asyncio.run(run_steps([first, transfer], _t()))
    assert not outcome.ok
    assert outcome.error is not None and "source" in outcome.error and "nope" in outcome.error
    assert outcome.undone and not made.exists()


def test_a_transfer_whose_check_passes_is_skipped(tmp_path: Path) -> None:
    transfer = Transfer(
        name="copy", source_on="web", source_script="exit 9\n", script="cat\n", check="true"
    )
    outcome = asyncio.run(run_steps([transfer], _t()))
    assert outcome.ok and outcome.steps[0].status == "skipped"


def test_a_destination_that_stops_reading_fails_the_transfer_and_stops_the_source() -> None:
    """The source writes without end: only stopping it lets the transfer end (and be undone)."""
    for script, said in (("echo refused >&2; exit 3\n", "exit 3"), ("exit 0\n", "before it")):
        transfer = Transfer(
            name="copy", source_on="src", source_script="yes\n", script=script, on="web"
        )
        transports = {"web": LocalTransport("a"), "src": LocalTransport("b")}
        outcome = asyncio.run(asyncio.wait_for(run_steps([transfer], transports), 30))
        assert not outcome.ok
        assert outcome.error is not None and "destination a" in outcome.error
        assert said in outcome.error
