"""The health check's HTTP probe (`actions.web._HTTP_PROBE`, run by PHP's CLI on the web
server), here against a local HTTP server that counts the requests it gets."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from reconciler.actions.web import _HTTP_PROBE


class _Counting(http.server.BaseHTTPRequestHandler):
    code: ClassVar[int] = 200
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        self.send_response(type(self).code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Counting]]]:
    handler = type("Handler", (_Counting,), {"hosts": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _probe(url: str, want: str, settle: str) -> str:
    done = subprocess.run(
        ["php", "-r", _HTTP_PROBE, url, "a.example.com", want, settle],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("code", "want", "settle", "answer", "requests"),
    [
        (200, "200,301", "0", "HTTP=200", (1, 1)),  # a report: the first answer is it
        (500, "200,301", "0", "HTTP=500", (1, 1)),  # ... also when it fails: no waiting
        (200, "200,301", "15", "HTTP=200", (3, 3)),  # after an action: three in a row
        (503, "503", "15", "HTTP=503", (3, 3)),
        (500, "200,301", "1", "HTTP=500", (2, 6)),  # a failing site: tried until settle ends
    ],
)
def test_the_probe_asks_as_often_as_its_settle_time_says(
    server: tuple[str, type[_Counting]],
    code: int,
    want: str,
    settle: str,
    answer: str,
    requests: tuple[int, int],
) -> None:
    url, handler = server
    handler.code = code
    assert _probe(url, want, settle) == answer
    low, high = requests
    assert low <= len(handler.hosts) <= high, handler.hosts
    assert set(handler.hosts) == {"a.example.com"}
