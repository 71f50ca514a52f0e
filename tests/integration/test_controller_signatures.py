"""`reconciler run --verify-signatures`: an unsigned head commit is refused (the last good one
stays in force and the status says why); a commit signed by an allowed SSH key is taken.

No rig: a `local` server with empty directories, plan only; commits signed with a key made here
(git's SSH signature format, checked against an allowed signers file).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    local_manifests,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration


def _sign_with(repo: ManifestRepo, key: Path | None) -> None:
    if key is None:
        repo.git("config", "commit.gpgsign", "false")
        return
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "user.signingkey", str(key))
    repo.git("config", "commit.gpgsign", "true")


def test_unsigned_heads_are_refused_signed_ones_taken(tmp_path: Path) -> None:
    key = tmp_path / "signing_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"t@localhost {key.with_suffix('.pub').read_text().strip()}\n")
    repo = ManifestRepo(tmp_path / "git")
    _sign_with(repo, key)
    signed = repo.commit(*local_manifests(tmp_path, ["a.example.com"]))
    args = ("--verify-signatures", "--allowed-signers", str(allowed))
    controller = ControllerProc(repo, [], tmp_path / "journal.sqlite", args, use_key=False)
    with running(controller):
        wait_until("ready", lambda: controller.get("/readyz")[0] == 200, 60)
        assert controller.status()["revision"] == signed

        _sign_with(repo, None)
        unsigned = repo.commit(*local_manifests(tmp_path, ["a.example.com", "b.example.com"]))

        def refused() -> dict[str, Any] | None:
            status = controller.status()
            error = status["controller"]["sourceError"]
            return status if error else None

        status = wait_until("the unsigned commit refused", refused, 30)
        assert unsigned[:12] in status["controller"]["sourceError"]
        assert "unsigned" in status["controller"]["sourceError"]
        assert status["revision"] == signed  # the last good manifests stay in force
        assert [s["name"] for s in status["sites"]] == ["a.example.com"]

        _sign_with(repo, key)
        again = repo.commit(*local_manifests(tmp_path, ["a.example.com", "b.example.com"]))

        def taken() -> dict[str, Any] | None:
            status = controller.status()
            return status if status["revision"] == again else None

        status = wait_until("the signed commit taken", taken, 30)
        assert status["controller"]["sourceError"] is None
        assert {s["name"] for s in status["sites"]} == {"a.example.com", "b.example.com"}
