"""The controller's work queue as tables, with an injected clock: nothing sleeps."""

from __future__ import annotations

import pytest

from reconciler.controller.workqueue import Backoff, Retry, WorkQueue, object_key

REV1 = "a" * 40
REV2 = "b" * 40


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def queue(base: float = 1.0, cap: float = 600.0) -> tuple[WorkQueue, Clock]:
    clock = Clock()
    return WorkQueue(Backoff(base, cap), clock), clock


@pytest.mark.parametrize(
    ("base", "cap", "attempts", "delay"),
    [
        (1.0, 600.0, 1, 1.0),
        (1.0, 600.0, 2, 2.0),
        (1.0, 600.0, 3, 4.0),
        (1.0, 600.0, 10, 512.0),
        (1.0, 600.0, 11, 600.0),
        (1.0, 600.0, 10_000, 600.0),
        (0.5, 5.0, 4, 4.0),
        (0.5, 5.0, 5, 5.0),
        (2.0, 2.0, 7, 2.0),
    ],
)
def test_backoff_doubles_to_its_cap(base: float, cap: float, attempts: int, delay: float) -> None:
    assert Backoff(base, cap).delay(attempts) == delay


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (5.0, 1.0)])
def test_backoff_refuses_nonsense(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base, cap)


def test_object_key() -> None:
    assert object_key("Site", "www.example.com") == "Site/www.example.com"


def test_triggers_collapse_while_waiting() -> None:
    q, _ = queue()
    q.add("Site/a")
    q.add("Site/a")
    q.add_all(["Site/a", "Site/b"])
    assert q.ready(REV1) == ["Site/a", "Site/b"]


def test_a_key_is_never_processed_twice_at_once() -> None:
    q, _ = queue()
    q.add("Site/a")
    q.start("Site/a")
    with pytest.raises(ValueError, match="already being processed"):
        q.start("Site/a")
    assert q.blocked("Site/a", REV1) == "in progress"
    q.add("Site/a")  # a trigger while processing: dirty, not waiting
    assert q.ready(REV1) == []
    q.add("Site/a")  # and a second one collapses with it
    q.done("Site/a", "ok", REV1)
    assert q.ready(REV1) == ["Site/a"]  # once, after it finished
    q.start("Site/a")
    q.done("Site/a", "ok", REV1)
    assert q.ready(REV1) == []


def test_transient_failures_back_off_and_success_resets() -> None:
    q, clock = queue(base=1.0, cap=8.0)
    q.add("Site/a")
    delays = []
    for _ in range(6):
        assert q.ready(REV1) == ["Site/a"]
        q.start("Site/a")
        retry = q.done("Site/a", "transient", REV1)
        assert retry is not None
        delays.append(retry.next_at - clock.now)
        assert q.ready(REV1) == []  # in backoff
        assert q.next_wakeup() == retry.next_at
        clock.now = retry.next_at  # the wakeup comes
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert q.retry("Site/a") == Retry(6, clock.now)
    q.start("Site/a")
    assert q.done("Site/a", "ok", REV1) is None
    assert q.retry("Site/a") is None
    q.add("Site/a")
    q.start("Site/a")
    retry = q.done("Site/a", "transient", REV1)
    assert retry is not None and retry.attempts == 1 and retry.next_at == clock.now + 1.0


def test_a_permanent_failure_waits_for_a_new_revision() -> None:
    q, clock = queue()
    q.add("Site/a")
    q.start("Site/a")
    q.done("Site/a", "permanent", REV1)
    clock.now += 10_000  # time alone does not retry it
    q.add("Site/a")
    assert q.ready(REV1) == []
    assert q.blocked("Site/a", REV1) is not None
    assert "new commit" in str(q.blocked("Site/a", REV1))
    assert q.failed_at("Site/a", REV1)
    assert q.ready(REV2) == ["Site/a"]  # a new commit tries again
    assert q.next_wakeup() is None


def test_failures_do_not_block_other_keys() -> None:
    q, _ = queue()
    q.add_all(["Site/a", "Site/b", "Site/c"])
    for key in ("Site/a", "Site/b"):
        q.start(key)
    q.done("Site/a", "transient", REV1)
    q.done("Site/b", "permanent", REV1)
    assert q.ready(REV1) == ["Site/c"]


def test_a_skipped_key_waits_again_with_its_retry_state_kept() -> None:
    q, clock = queue()
    q.add("Site/a")
    q.start("Site/a")
    retry = q.done("Site/a", "transient", REV1)
    clock.now += 100
    q.start("Site/a")
    assert q.done("Site/a", "skipped", REV1) == retry
    assert q.ready(REV1) == ["Site/a"]


def test_release_after_a_job_keeps_the_state_and_honours_triggers() -> None:
    q, _ = queue()
    q.record("Site/a", "transient", REV1)
    q.start("Site/a")
    q.release("Site/a")
    assert q.waiting() == frozenset() and q.retry("Site/a") is not None
    q.start("Site/a")
    q.add("Site/a")
    q.release("Site/a")
    assert q.waiting() == {"Site/a"} and not q.is_processing("Site/a")


def test_record_counts_without_processing_and_restore() -> None:
    q, clock = queue(base=2.0)
    first = q.record("Site/x", "transient", REV1)
    second = q.record("Site/x", "transient", REV1)
    assert first == Retry(1, clock.now + 2.0)
    assert second == Retry(2, clock.now + 4.0)
    assert q.in_backoff("Site/x")
    q.record("Site/x", "ok", REV1)
    assert not q.in_backoff("Site/x")
    q.restore("Site/y", Retry(3, clock.now + 5))
    assert q.retries() == {"Site/y": Retry(3, clock.now + 5)}
    q.add("Site/y")
    assert q.next_wakeup() == clock.now + 5
    q.forget("Site/y")
    assert q.waiting() == frozenset()
    assert q.next_wakeup() is None
