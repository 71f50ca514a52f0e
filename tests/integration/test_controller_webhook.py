"""`reconciler run` following a repository URL: a webhook with a wrong signature gets 401 and
nothing runs; a correctly signed one makes the controller fetch and reconcile the new commit.

No rig: the declared server is this machine (`transport: local`) with empty directories, the
controller plans only, and the repository is a `file://` URL, so that nothing but the webhook
(with a poll `--interval` of an hour) can tell it about a new commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    journal_rows,
    local_manifests,
    running,
)
from integration.controller_proc import wait_until as wait

pytestmark = pytest.mark.integration

SECRET = b"webhook-secret-for-the-test"


def _post(base: str, body: bytes, signature: str) -> int:
    request = urllib.request.Request(
        base + "/webhook",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_webhook_signature_decides_whether_a_fetch_runs(tmp_path: Path) -> None:
    origin = ManifestRepo(tmp_path / "origin")
    first = origin.commit(*local_manifests(tmp_path, ["a.example.com"]))
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    controller = ControllerProc(
        origin,
        [],
        tmp_path / "journal.sqlite",
        ("--interval", "1h", "--webhook-secret-file", str(tmp_path / "secret")),
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
        use_key=False,
        url=f"file://{origin.path}",
    )
    with running(controller):
        wait("ready", lambda: controller.get("/readyz")[0] == 200, 60)
        assert controller.status()["revision"] == first
        second = origin.commit(*local_manifests(tmp_path, ["a.example.com", "b.example.com"]))
        body = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
        good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        bad = "sha256=" + hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()

        assert _post(controller.base, body, bad) == 401
        plans = journal_rows(controller.state, "SELECT revision FROM runs WHERE trigger = 'plan'")
        assert plans == [(first,)]  # nothing was fetched nor planned for the bad one

        assert _post(controller.base, body, good) == 202
        wait("the new commit planned", lambda: controller.status()["revision"] == second, 30)
        planned = controller.status()["pendingPlan"]["actions"]
        assert {a["object"]["name"] for a in planned} >= {"a.example.com", "b.example.com"}
        assert journal_rows(
            controller.state, "SELECT revision FROM runs WHERE trigger = 'plan' ORDER BY id"
        ) == [(first,), (second,)]
