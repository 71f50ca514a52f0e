"""`reconciler backups SITE --prune` on the real rig: tarballs of one site on two sshd hosts (the
site moved from h02 to h01), the site's `backups.keep` applied at a fixed "now", the pruned
tarballs removed on each host by one script under the site's lock, what remains checked on disk.

The tarballs are named as backups are; their content does not matter to retention (a listing
reads no manifest from them). The command runs in-process, its clock fixed, with an ssh-agent
holding both hosts' keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rig.hosts import TestHost
from rig.manifests import server_yaml

from integration.test_backup import agent as agent
from reconciler.cli import backup_cmd

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("agent")]

SITE = "shop.example.com"
NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)  # a Wednesday, ISO week 2024-W20
ON_H01 = ["20240515T060000Z", "20240515T000000Z", "20240514T180000Z", "20240514T060000Z"]
ON_H01 += ["20240513T120000Z", "20240501T120000Z", "20240430T120000Z"]
ON_H02 = ["20240514T200000Z", "20240410T120000Z"]


def _place(h: TestHost, stamps: Sequence[str], extra: Sequence[str] = ()) -> None:
    """Tarballs `<site>-<stamp>.tar.gz` (and `extra` file names) owned by the login user,
    0600 in a 0700 directory, as backups are."""
    names = [f"{SITE}-{stamp}.tar.gz" for stamp in stamps] + list(extra)
    script = (
        'd="$1"; shift; mkdir -p -m 700 "$d"; for n; do echo x > "$d/$n"; done; chmod 600 "$d"/*'
    )
    h.run(["sh", "-c", script, "sh", str(h.backups / SITE), *names])


def _left(h: TestHost) -> list[str]:
    return sorted(p.name.removesuffix(".tar.gz") for p in (h.backups / SITE).iterdir())


def _write(repo: Path, hosts: Sequence[TestHost], site_spec: str | None) -> None:
    web = hosts[0]
    docs = [server_yaml(h) for h in hosts]
    docs.append(
        "apiVersion: reconciler/v1\nkind: Platform\nmetadata: {name: p1}\n"
        f"spec: {{server: {web.name}, path: {web.platforms / 'p1'}, source: {{existing: true}}}}\n"
    )
    if site_spec is not None:
        docs.append(
            f"apiVersion: reconciler/v1\nkind: Site\nmetadata: {{name: {SITE}}}\n"
            f"spec: {{platform: p1{site_spec}}}\n"
        )
    repo.mkdir(exist_ok=True)
    (repo / "m.yaml").write_text("---\n".join(docs))


def _prune(repo: Path, hosts: Sequence[TestHost], *args: str) -> tuple[Any, Result]:
    known = repo.parent / "known_hosts"
    known.write_text("".join(h.known_hosts.read_text() for h in hosts))
    argv = [SITE, "--prune", *args, "--repo", str(repo), "--worktree", "--known-hosts", str(known)]
    result = CliRunner().invoke(backup_cmd.backups, argv, standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result


def test_prune_applies_the_policy_across_servers(
    h01: TestHost, h02: TestHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_cmd, "_now", lambda: NOW)
    _place(h01, ON_H01)
    _place(h02, ON_H02, extra=["manual-copy.tar.gz"])
    repo = tmp_path / "git"
    policy = ", backups: {schedule: daily, keep: {daily: 2, weekly: 2, monthly: 2}}"
    _write(repo, [h01, h02], policy)

    code, done = _prune(repo, [h01, h02], "--format", "json")
    assert code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["keep"] == {"daily": 2, "weekly": 2, "monthly": 2}
    kept = {
        row["id"].removeprefix(f"{SITE}-"): (row["server"], row["reasons"]) for row in doc["kept"]
    }
    assert kept == {
        "20240515T060000Z": (h01.name, ["daily 2024-05-15", "weekly 2024-W20", "monthly 2024-05"]),
        "20240514T200000Z": (h02.name, ["daily 2024-05-14"]),
        "20240430T120000Z": (h01.name, ["monthly 2024-04"]),
        "manual-copy": (h02.name, ["time unreadable"]),
    }
    removed = sorted(row["id"].removeprefix(f"{SITE}-") for row in doc["removed"])
    assert removed == sorted(set(ON_H01 + ON_H02) - set(kept))
    # on disk: exactly what the policy keeps, on each server
    assert _left(h01) == [f"{SITE}-20240430T120000Z", f"{SITE}-20240515T060000Z"]
    assert _left(h02) == ["manual-copy", f"{SITE}-20240514T200000Z"]

    code, again = _prune(repo, [h01, h02])
    assert code == 0, again.output
    assert f"Retention of {SITE} (keep daily 2, weekly 2, monthly 2): 0 removed, 4 kept." in (
        again.stdout
    )


def test_prune_of_a_deleted_site_keeps_its_newest_and_refusals(
    h01: TestHost, h02: TestHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_cmd, "_now", lambda: NOW)
    _place(h01, ON_H01[2:])
    _place(h02, ON_H02[:1])  # the newest of all is on h02
    repo = tmp_path / "git"
    before = (_left(h01), _left(h02))

    _write(repo, [h01, h02], None)
    code, undeclared = _prune(repo, [h01, h02])
    assert code == 1
    assert f"site {SITE} is not declared in git" in undeclared.stderr
    assert "hint:" in undeclared.stderr
    _write(repo, [h01, h02], "")
    code, no_policy = _prune(repo, [h01, h02])
    assert code == 1
    assert f"site {SITE} has no backups policy; nothing was pruned" in no_policy.stderr
    assert "backups: {schedule: daily" in no_policy.stderr
    assert (_left(h01), _left(h02)) == before

    absent = ", state: absent, backups: {schedule: daily, keep: {daily: 0, weekly: 0, monthly: 0}}"
    _write(repo, [h01, h02], absent)
    code, done = _prune(repo, [h01, h02])
    assert code == 0, done.output
    assert f"Retention of {SITE} (keep daily 0, weekly 0, monthly 0): 5 removed, 1 kept." in (
        done.stdout
    )
    assert "last backup" in done.stdout
    assert _left(h01) == []
    assert _left(h02) == [f"{SITE}-20240514T200000Z"]
