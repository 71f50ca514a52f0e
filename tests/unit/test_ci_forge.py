"""examples/ci/forge_comment.py against a local HTTP server standing in for GitHub's issue
comments API and GitLab's merge request notes API: auth headers, one comment created and then
updated (found by its marker across pages), errors named without the token, retries.

`FakeForge` is also the stand-in of tests/integration/test_ci_scripts.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from unit.test_ci_comment import CI, fc

GITHUB_MAX = 65536
GITLAB_MAX = 1000000


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool


@dataclass
class FakeForge:
    """One pull request's comments (GitHub: owner/name PR 7) or one merge request's notes
    (GitLab: project 42, MR 3), served on 127.0.0.1 by a threaded `http.server`.

    Every request is recorded with whether it carried the right auth header (GitHub:
    `Authorization: Bearer TOKEN`, GitLab: `PRIVATE-TOKEN: TOKEN`); one without is answered 401,
    as the forges do. Lists are paged (`per_page`, at most `page_max`): GitHub says the next page
    in a `Link` header, GitLab in `X-Next-Page`; GitLab lists newest first unless asked
    `sort=asc`. A body over the forge's limit is refused (422 GitHub, 400 GitLab)."""

    kind: str
    token: str = "t0ken-" + os.urandom(6).hex()
    page_max: int = 100
    comments: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    """Statuses to answer the next requests with, in order (e.g. [502] for one bad gateway)."""
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    # --- the forge's variables -----------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}" + ("/api/v3" if self.kind == "github" else "/api/v4")

    def env(self) -> dict[str, str]:
        """The variables a CI job of this forge has (and the token the job is given)."""
        if self.kind == "github":
            return {
                "GITHUB_ACTIONS": "true",
                "GITHUB_API_URL": self.base,
                "GITHUB_REPOSITORY": "acme/hosting",
                "PR_NUMBER": "7",
                "GITHUB_TOKEN": self.token,
                "GITHUB_SERVER_URL": "https://github.example",
                "GITHUB_RUN_ID": "4242",
            }
        return {
            "GITLAB_CI": "true",
            "CI_API_V4_URL": self.base,
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "3",
            "GITLAB_TOKEN": self.token,
            "CI_JOB_URL": "https://gitlab.example/acme/hosting/-/jobs/4242",
        }

    @property
    def collection(self) -> str:
        if self.kind == "github":
            return "/api/v3/repos/acme/hosting/issues/7/comments"
        return "/api/v4/projects/42/merge_requests/3/notes"

    def item(self, number: int) -> str:
        if self.kind == "github":
            return f"/api/v3/repos/acme/hosting/issues/comments/{number}"
        return f"/api/v4/projects/42/merge_requests/3/notes/{number}"

    def add(self, body: str, **extra: Any) -> int:
        """A comment already there (someone else's, or one of an earlier run)."""
        with self.lock:
            self.next_id += 1
            self.comments.append({"id": self.next_id, "body": body, **extra})
            return self.next_id

    def bodies(self) -> list[str]:
        return [str(c["body"]) for c in self.comments]

    def writes(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.seen if s.method != "GET"]

    # --- serving -------------------------------------------------------------------------------

    def __enter__(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                forge.handle(self, "GET")

            def do_POST(self) -> None:
                forge.handle(self, "POST")

            def do_PATCH(self) -> None:
                forge.handle(self, "PATCH")

            def do_PUT(self) -> None:
                forge.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.kind == "github":
            return handler.headers.get("Authorization") == f"Bearer {self.token}"
        return handler.headers.get("PRIVATE-TOKEN") == self.token

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        ok = self._authorized(h)
        with self.lock:
            self.seen.append(Seen(method, url.path, ok))
            failing = self.fail_next.pop(0) if self.fail_next else None
        if failing is not None:
            return self._send(h, failing, {"message": f"failing with {failing} on purpose"})
        if not ok:
            message = "Bad credentials" if self.kind == "github" else "401 Unauthorized"
            return self._send(h, 401, {"message": message})
        if url.path == self.collection and method == "GET":
            return self._list(h, url.path, query)
        if url.path == self.collection and method == "POST":
            body = self._body(h, raw)
            if body is not None:
                number = self.add(body, **self._author())
                self._send(h, 201, self._find(number))
            return None
        if method == ("PATCH" if self.kind == "github" else "PUT"):
            for comment in self.comments:
                if url.path == self.item(int(comment["id"])):
                    body = self._body(h, raw)
                    if body is not None:
                        with self.lock:
                            comment["body"] = body
                        self._send(h, 200, comment)
                    return None
        return self._send(h, 404, {"message": "Not Found"})

    def _author(self) -> dict[str, Any]:
        if self.kind == "github":
            return {"user": {"login": "github-actions[bot]"}}
        return {"author": {"username": "project_42_bot"}, "system": False}

    def _find(self, number: int) -> dict[str, Any]:
        return next(c for c in self.comments if c["id"] == number)

    def _body(self, h: BaseHTTPRequestHandler, raw: bytes) -> str | None:
        try:
            body = json.loads(raw)["body"]
            assert isinstance(body, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self._send(h, 400, {"message": "body is missing"})
            return None
        if self.kind == "github" and len(body) > GITHUB_MAX:
            self._send(h, 422, {"message": "Validation Failed", "errors": ["body is too long"]})
            return None
        if self.kind == "gitlab" and len(body) > GITLAB_MAX:
            self._send(h, 400, {"message": {"note": ["is too long (maximum is 1000000)"]}})
            return None
        return body

    def _list(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        per_page = min(int(query.get("per_page", "30")), self.page_max)
        page = int(query.get("page", "1"))
        with self.lock:
            items = list(self.comments)
        if self.kind == "gitlab" and query.get("sort") != "asc":
            items.reverse()
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            if self.kind == "github":
                nxt = (
                    f"{self.base}{path.removeprefix('/api/v3')}?per_page={per_page}&page={page + 1}"
                )
                headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
            else:
                headers["X-Next-Page"] = str(page + 1)
        elif self.kind == "gitlab":
            headers["X-Next-Page"] = ""
        self._send(h, 200, chunk, headers)

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with FakeForge(str(request.param)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fc, "RETRY_DELAYS", (0.01, 0.01))


def _post(forge: FakeForge, tmp_path: Path, content: str, **env: str) -> int:
    path = tmp_path / "comment.md"
    path.write_text(content)
    code: int = fc.main(["post", str(path)], {**forge.env(), **env})
    return code


def test_created_once_then_updated_in_place(forge: FakeForge, tmp_path: Path) -> None:
    forge.add("LGTM")  # someone's comment, left alone
    assert _post(forge, tmp_path, "**Plan: 1 to add, 0 to change, 0 to delete.**\n") == 0
    assert _post(forge, tmp_path, "**Plan: 2 to add, 0 to change, 0 to delete.**\n") == 0
    assert len(forge.comments) == 2
    assert forge.bodies()[0] == "LGTM"
    mine = forge.comments[1]
    assert mine["body"].startswith("**Plan: 2 to add, 0 to change, 0 to delete.**\n")
    assert mine["body"].rstrip().endswith("<!-- reconciler-plan -->")
    update = "PATCH" if forge.kind == "github" else "PUT"
    assert forge.writes() == [("POST", forge.collection), (update, forge.item(mine["id"]))]
    assert all(s.authorized for s in forge.seen)


def test_the_marked_comment_is_found_on_a_later_page(forge: FakeForge, tmp_path: Path) -> None:
    forge.page_max = 10
    for n in range(25):
        forge.add(f"chatter {n}")
    old = forge.add("an earlier plan\n\n<!-- reconciler-plan -->\n")
    forge.add("more chatter")
    assert _post(forge, tmp_path, "new plan\n") == 0
    assert len(forge.comments) == 27
    assert forge._find(old)["body"].startswith("new plan\n")
    assert [s.method for s in forge.seen].count("GET") == 3


def test_the_newest_of_two_marked_comments_is_updated(forge: FakeForge, tmp_path: Path) -> None:
    first = forge.add("plan A\n<!-- reconciler-plan -->")
    second = forge.add("plan B\n<!-- reconciler-plan -->")
    assert _post(forge, tmp_path, "plan C\n") == 0
    assert forge._find(first)["body"] == "plan A\n<!-- reconciler-plan -->"
    assert forge._find(second)["body"].startswith("plan C\n")


def test_a_key_keeps_a_comment_of_its_own(forge: FakeForge, tmp_path: Path) -> None:
    assert _post(forge, tmp_path, "default plan\n") == 0
    assert _post(forge, tmp_path, "staging plan\n", RECONCILER_COMMENT_KEY="staging") == 0
    assert _post(forge, tmp_path, "staging again\n", RECONCILER_COMMENT_KEY="staging") == 0
    assert [b.splitlines()[0] for b in forge.bodies()] == ["default plan", "staging again"]


def test_a_plan_over_the_limit_is_cut_and_accepted(forge: FakeForge, tmp_path: Path) -> None:
    limit = GITHUB_MAX if forge.kind == "github" else GITLAB_MAX
    line = "- `+ site.install` `s.example.com` on `h01` — not installed (ünïcödé)\n"
    content = "**Plan: many to add**\n" + line * (limit // len(line) + 10)
    assert _post(forge, tmp_path, content) == 0
    (body,) = forge.bodies()
    assert len(body) < limit and "Cut here, after line" in body


def test_a_refused_token_is_exit_4_and_never_printed(
    forge: FakeForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = forge.env()
    var = "GITHUB_TOKEN" if forge.kind == "github" else "GITLAB_TOKEN"
    assert _post(forge, tmp_path, "plan\n", **{var: "wrong-" + forge.token}) == 4
    err = capsys.readouterr().err
    assert "answered 401" in err and f"the token was refused: check {var}" in err
    assert forge.token not in err and env[var] not in err
    assert forge.comments == []


def test_a_bad_gateway_is_retried(forge: FakeForge, tmp_path: Path) -> None:
    forge.fail_next = [502, 503]
    assert _post(forge, tmp_path, "plan\n") == 0
    assert len(forge.comments) == 1


def test_a_lasting_outage_is_exit_4(
    forge: FakeForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forge.fail_next = [503, 503, 503]
    assert _post(forge, tmp_path, "plan\n") == 4
    assert "answered 503" in capsys.readouterr().err


def test_no_server_is_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeForge("github") as gone:
        env = gone.env()
    path = tmp_path / "c.md"
    path.write_text("plan\n")
    assert fc.main(["post", str(path)], env) == 4
    assert "no answer" in capsys.readouterr().err


def test_as_a_script_missing_variable_is_exit_3(tmp_path: Path) -> None:
    """Run as CI runs it: python3 and the environment only; the message names the variable."""
    path = tmp_path / "c.md"
    path.write_text("plan\n")
    env = {"PATH": os.environ["PATH"], "GITHUB_ACTIONS": "true", "GITHUB_API_URL": "http://x"}
    done = subprocess.run(
        [sys.executable, str(CI / "forge_comment.py"), "check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("forge_comment: GITHUB_REPOSITORY is not set:")
