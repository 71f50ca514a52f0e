"""The HTTP surface (`reconciler.api.server`) served for real on a loopback port: every route,
webhooks with wrong and right signatures (GitHub and GitLab), and `--listen` parsing.

Needs no rig (no sshd, database or web server): only sockets on 127.0.0.1 and ::1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api.server import (
    ListenError,
    SimpleApiState,
    bound_addresses,
    make_app,
    parse_listen,
    read_webhook_secret,
    serve,
)
from reconciler.errors import ReconcilerError
from reconciler.logs import configure_logging, forget_secrets, known_secrets

SECRET = b"s3cr3t-for-the-webhook-0123456789"
PUSH = json.dumps({"ref": "refs/heads/main"}).encode()
DEV_PUSH = json.dumps({"ref": "refs/heads/dev"}).encode()


def github(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON logs of the test, in a buffer; the process's logging restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ssh_level = logging.getLogger("asyncssh").level
    buffer = io.StringIO()
    configure_logging("json", stream=buffer)
    yield buffer
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("asyncssh").setLevel(ssh_level)
    structlog.reset_defaults()
    forget_secrets()


Scenario = Callable[[aiohttp.ClientSession, str, SimpleApiState, list[str | None]], Awaitable[None]]


def run_served(
    scenario: Scenario,
    *,
    secret: bytes | None = SECRET,
    listen: str = "127.0.0.1:0",
    max_body: int = 1024 * 1024,
) -> list[str | None]:
    """Serve a fresh app on an ephemeral port, run `scenario` against it, return the branches
    `on_webhook` was called with."""
    calls: list[str | None] = []
    state = SimpleApiState()

    async def on_webhook(branch: str | None) -> None:
        calls.append(branch)

    async def main() -> None:
        app = make_app(state, webhook_secret=secret, on_webhook=on_webhook, max_body=max_body)
        runner = await serve(app, listen)
        try:
            host, port = bound_addresses(runner)[0]
            base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            async with aiohttp.ClientSession() as session:
                await scenario(session, base, state, calls)
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return calls


def test_health_readiness_metrics_and_status() -> None:
    async def scenario(
        http: aiohttp.ClientSession, base: str, state: SimpleApiState, calls: list[str | None]
    ) -> None:
        async with http.get(f"{base}/healthz") as r:
            assert (r.status, await r.text()) == (200, "ok\n")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(f"{base}/readyz") as r:
            assert (r.status, await r.text()) == (503, "not ready\n")
        state.ready = True
        async with http.get(f"{base}/readyz") as r:
            assert (r.status, await r.text()) == (200, "ready\n")

        async def actions() -> float:
            async with http.get(f"{base}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=")
                text = await r.text()
            found = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
            }
            assert ("process_resident_memory_bytes", ()) in found
            key = ("reconciler_actions_total", (("kind", "install"), ("result", "succeeded")))
            return found.get(key, 0.0)

        assert await actions() == 0
        state.metrics.action_done("install", "succeeded")
        state.metrics.action_done("install", "succeeded")
        assert await actions() == 2

        state.status = {"revision": "abc", "sites": [{"name": "a.example", "sync": "Synced"}]}
        async with http.get(f"{base}/api/status") as r:
            assert r.status == 200 and r.content_type == "application/json"
            assert r.headers["Cache-Control"] == "no-store"
            assert await r.json() == state.status
        async with http.get(f"{base}/nothing-here") as r:
            assert r.status == 404
        async with http.post(f"{base}/healthz") as r:
            assert r.status == 405

    assert run_served(scenario) == []


def test_webhooks_wrong_ones_get_401_and_trigger_nothing_right_ones_trigger_once(
    log_lines: io.StringIO,
) -> None:
    async def scenario(
        http: aiohttp.ClientSession, base: str, state: SimpleApiState, calls: list[str | None]
    ) -> None:
        url = f"{base}/webhook"
        wrong = [
            github(PUSH, b"another secret"),
            github(b"another body"),
            {"X-Hub-Signature-256": "sha256=" + "0" * 64},
            {"X-Gitlab-Token": "guess"},
            {"X-Gitlab-Token": SECRET.decode() + "x"},
            {},
        ]
        for headers in wrong:
            async with http.post(url, data=PUSH, headers=headers) as r:
                assert r.status == 401, headers
                body = await r.json()
                assert body["accepted"] is False and body["reason"]
        assert calls == []
        async with http.get(url, headers=github(b"")) as r:
            assert r.status == 405
        assert calls == []

        async with http.post(url, data=PUSH, headers=github(PUSH)) as r:
            assert r.status == 202
            assert await r.json() == {"accepted": True, "branch": "main"}
        assert calls == ["main"]
        gitlab = {"X-Gitlab-Token": SECRET.decode(), "X-Gitlab-Event": "Push Hook"}
        async with http.post(url, data=DEV_PUSH, headers=gitlab) as r:
            assert r.status == 202
        assert calls == ["main", "dev"]
        ping = b'{"zen": "Practicality beats purity."}'
        async with http.post(url, data=ping, headers=github(ping)) as r:
            assert r.status == 202 and (await r.json())["branch"] is None
        assert calls == ["main", "dev", None]

    assert run_served(scenario) == ["main", "dev", None]
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [ln["event"] for ln in lines].count("webhook rejected") == 6
    assert [ln["event"] for ln in lines].count("webhook accepted") == 3
    assert SECRET.decode() not in log_lines.getvalue()


def test_without_a_secret_the_webhook_is_404_and_never_triggers() -> None:
    async def scenario(
        http: aiohttp.ClientSession, base: str, state: SimpleApiState, calls: list[str | None]
    ) -> None:
        for headers in (github(PUSH), {"X-Gitlab-Token": SECRET.decode()}, {}):
            async with http.post(f"{base}/webhook", data=PUSH, headers=headers) as r:
                assert r.status == 404

    assert run_served(scenario, secret=None) == []


def test_a_body_over_the_limit_is_413_and_triggers_nothing() -> None:
    big = json.dumps({"ref": "refs/heads/main", "pad": "x" * 4096}).encode()

    async def scenario(
        http: aiohttp.ClientSession, base: str, state: SimpleApiState, calls: list[str | None]
    ) -> None:
        async with http.post(f"{base}/webhook", data=big, headers=github(big)) as r:
            assert r.status == 413
        async with http.post(f"{base}/webhook", data=PUSH, headers=github(PUSH)) as r:
            assert r.status == 202

    assert run_served(scenario, max_body=1024) == ["main"]


def test_it_serves_on_ipv6_loopback() -> None:
    async def scenario(
        http: aiohttp.ClientSession, base: str, state: SimpleApiState, calls: list[str | None]
    ) -> None:
        assert base.startswith("http://[::1]:")
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200

    run_served(scenario, listen="[::1]:0")


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            app = make_app(SimpleApiState(), webhook_secret=None, on_webhook=_never)
            await serve(app, f"127.0.0.1:{port}")

        with pytest.raises(ReconcilerError, match=f"cannot listen on 127.0.0.1:{port}"):
            asyncio.run(main())


async def _never(branch: str | None) -> None:
    raise AssertionError("no webhook expected")


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        (" 127.0.0.1:80 ", ("127.0.0.1", 80)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("8080", "no host"),
        (":8080", "no host"),
        ("::1:8080", "goes in"),
        ("[nope]:8080", "not an IPv6 address"),
        ("127.0.0.1:http", "0-65535"),
        ("127.0.0.1:65536", "0-65535"),
        ("127.0.0.1:", "0-65535"),
        ("127.0.0.1:-1", "0-65535"),
    ],
)
def test_parse_listen_refuses(listen: str, message: str) -> None:
    with pytest.raises(ListenError, match=message):
        parse_listen(listen)


def test_the_secret_file_is_read_without_its_newline_and_registered(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    assert read_webhook_secret(path) == SECRET
    assert SECRET.decode() in known_secrets()
    path.write_bytes(b"\n")
    with pytest.raises(ReconcilerError, match="is empty"):
        read_webhook_secret(path)
    with pytest.raises(ReconcilerError, match="No such file"):
        read_webhook_secret(tmp_path / "missing")
