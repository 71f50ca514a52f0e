"""The controller's HTTP surface: health, readiness, metrics, status JSON and the webhook.

`make_app` builds an aiohttp application around an `ApiState` (what the controller knows) and
an `on_webhook` callback (how it is told to fetch); `serve` binds it to `--listen`. aiohttp runs
on the controller's own asyncio event loop, so no thread and no lock stand between them.

* `GET /healthz`: 200 while the process serves.
* `GET /readyz`: 503 until `state.ready` (the first full observe), then 200.
* `GET /metrics`: `state.metrics.render()`, in the Prometheus text format.
* `GET /api/status`: `state.status_json()` (the `status --format json` document).
* `GET /` and `GET /dashboard`: the same document and `state.runs` (the journal's recent runs) as
  one read-only HTML page (`reconciler.api.dashboard`) that reloads itself.
* `POST /webhook`: 404 without a webhook secret (the body is not even read); 401 for a delivery
  not signed with it, and nothing runs; 413 for a body over `max_body`; 202 after
  `await on_webhook(branch)` for a good one.

`on_webhook` is awaited before the answer, so it should only enqueue work; `branch` is the pushed
branch, or None when the delivery names none (a ping, a tag push).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from aiohttp import web

from reconciler.api.dashboard import DASHBOARD_HEADERS, render_dashboard
from reconciler.api.metrics import CONTENT_TYPE, Metrics
from reconciler.api.webhook import verify_delivery
from reconciler.errors import ReconcilerError
from reconciler.journal.model import RunSummary
from reconciler.logs import get_logger, register_secret

__all__ = [
    "DEFAULT_LISTEN",
    "MAX_WEBHOOK_BYTES",
    "ApiState",
    "ListenError",
    "SimpleApiState",
    "WebhookCallback",
    "bound_addresses",
    "make_app",
    "parse_listen",
    "read_webhook_secret",
    "serve",
]

DEFAULT_LISTEN: Final = "127.0.0.1:8080"
MAX_WEBHOOK_BYTES: Final = 25 * 1024 * 1024
"""GitHub does not deliver payloads over 25 MB; nothing legitimate is larger."""

WebhookCallback = Callable[[str | None], Awaitable[None]]

_log = get_logger(__name__)


class ApiState(Protocol):
    """What the HTTP surface reads from the controller (attributes or properties)."""

    @property
    def ready(self) -> bool:
        """True once the first full observe is done."""
        ...  # pragma: no cover - a protocol

    @property
    def metrics(self) -> Metrics:
        """The controller's metrics."""
        ...  # pragma: no cover - a protocol

    @property
    def runs(self) -> Sequence[RunSummary]:
        """The journal's recent runs, newest first (the dashboard's last table)."""
        ...  # pragma: no cover - a protocol

    @property
    def taken_at(self) -> datetime | None:
        """When the status document and the runs were last published (None: not yet)."""
        ...  # pragma: no cover - a protocol

    def status_json(self) -> dict[str, object]:
        """The `status` JSON document of the controller's latest view."""
        ...  # pragma: no cover - a protocol


@dataclass
class SimpleApiState:
    """An `ApiState` the controller updates by assignment: `ready`, `metrics`, `status`,
    `runs` and `taken_at`."""

    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False
    status: dict[str, object] = field(
        default_factory=lambda: {
            "revision": None,
            "sites": [],
            "platforms": [],
            "servers": [],
            "pendingPlan": None,
        }
    )
    runs: Sequence[RunSummary] = ()
    taken_at: datetime | None = None

    def status_json(self) -> dict[str, object]:
        """The last `status` document assigned."""
        return self.status


class ListenError(ReconcilerError):
    """A `--listen` value that is not `HOST:PORT`."""


def parse_listen(listen: str) -> tuple[str, int]:
    """`host, port` from `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080` (port 0: any free
    port). An IPv6 address needs its brackets; an empty host is refused (say `0.0.0.0`)."""
    hint = "write HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080"
    host, sep, port_text = listen.strip().rpartition(":")
    if not sep or not host:
        raise ListenError(f"--listen {listen!r}: no host", hint=hint)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ListenError(f"--listen {listen!r}: not an IPv6 address", hint=hint) from None
    elif ":" in host or "[" in host or "]" in host:
        raise ListenError(f"--listen {listen!r}: an IPv6 address goes in [ ]", hint=hint)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"--listen {listen!r}: the port must be 0-65535", hint=hint)
    return host, int(port_text)


def read_webhook_secret(path: str | Path) -> bytes:
    """The secret in `--webhook-secret-file` (without its trailing newline), registered so that
    it never appears in a log line. An empty file is refused: it would sign anything."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ReconcilerError(f"--webhook-secret-file {path}: {exc.strerror}") from None
    secret = raw.rstrip(b"\r\n")
    if not secret:
        raise ReconcilerError(
            f"--webhook-secret-file {path} is empty",
            hint="put the secret configured in the GitHub or GitLab webhook in it",
        )
    register_secret(secret.decode("utf-8", "replace"))
    return secret


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body + "\n", status=status)


def make_app(
    state: ApiState,
    *,
    webhook_secret: bytes | None,
    on_webhook: WebhookCallback,
    max_body: int = MAX_WEBHOOK_BYTES,
) -> web.Application:
    """The aiohttp application serving `state`; `webhook_secret=None` turns the webhook off."""

    async def healthz(request: web.Request) -> web.Response:
        return _text("ok")

    async def readyz(request: web.Request) -> web.Response:
        return _text("ready") if state.ready else _text("not ready", 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def status(request: web.Request) -> web.Response:
        return web.json_response(
            state.status_json(),
            dumps=lambda data: json.dumps(data, indent=2),
            headers={"Cache-Control": "no-store"},
        )

    async def dashboard(request: web.Request) -> web.Response:
        page = render_dashboard(
            state.status_json(), state.runs, datetime.now(UTC), taken_at=state.taken_at
        )
        return web.Response(
            text=page, content_type="text/html", charset="utf-8", headers=DASHBOARD_HEADERS
        )

    async def webhook(request: web.Request) -> web.Response:
        if webhook_secret is None:
            raise web.HTTPNotFound()
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        body = await request.read()
        verdict = verify_delivery(request.headers, body, webhook_secret)
        if not verdict.accepted:
            _log.warning("webhook rejected", peer=request.remote, reason=verdict.reason)
            return web.json_response({"accepted": False, "reason": verdict.reason}, status=401)
        _log.info(
            "webhook accepted",
            provider=verdict.provider,
            github_event=verdict.event if verdict.provider == "github" else None,
            gitlab_event=verdict.event if verdict.provider == "gitlab" else None,
            branch=verdict.branch,
        )
        await on_webhook(verdict.branch)
        return web.json_response({"accepted": True, "branch": verdict.branch}, status=202)

    async def nosniff(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"

    app = web.Application(client_max_size=max_body)
    app.on_response_prepare.append(nosniff)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/status", status)
    app.router.add_get("/", dashboard)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_route("*", "/webhook", webhook)
    return app


async def serve(
    app: web.Application, listen: str = DEFAULT_LISTEN, *, shutdown_timeout: float = 5.0
) -> web.AppRunner:
    """Start serving `app` on `listen` (`HOST:PORT`); stop it with `await runner.cleanup()`.

    No access log (a Prometheus scrape every 15 s would fill it); requests that matter (the
    webhook) log their own line. `shutdown_timeout` bounds how long open requests may finish.
    """
    host, port = parse_listen(listen)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ReconcilerError(
            f"cannot listen on {listen}: {exc.strerror or exc}",
            hint="another process may hold the port; choose another with --listen",
        ) from None
    return runner


def bound_addresses(runner: web.AppRunner) -> list[tuple[str, int]]:
    """`(host, port)` of each socket `runner` listens on (the real port when 0 was asked)."""
    return [(str(address[0]), int(address[1])) for address in runner.addresses]
