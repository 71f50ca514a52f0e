"""The controller's logs in JSON mode on the real rig (issue 6, "Logs").

`reconciler run --log-format json --auto-apply`, its stderr and its stdout each captured to a
file of their own, goes through a full life on h01 (MariaDB): it builds two STAND-IN platforms
and installs a site (a database, a user with a generated password, a hash salt), runs its cron
(2 s interval), upgrades it from 10.2.8 to 10.3.6 (safety backup with a database dump, updatedb),
then tries the upgrade to 10.4.0-failing, whose updatedb fails (the error logged and recorded,
the site rolled back from the backup); SIGTERM then stops it with exit 0.

Every non-empty line the process wrote on stderr must be one JSON object with `event`, `level`
and `timestamp`, and neither the site's database password nor its hash salt (read from its
settings.php by PHP itself) may appear — raw, JSON-escaped or URL-encoded — on stderr, on stdout,
in the journal's files, in `/api/status` or in `/metrics`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin

from integration.controller_proc import ControllerProc, ManifestRepo, wait_until
from integration.test_apply_lifecycle import _credentials
from integration.test_upgrade import FAILURE, VERSIONS
from integration.test_upgrade import site as site

pytestmark = pytest.mark.integration

ARGS = (
    "--log-format",
    "json",
    "--auto-apply",
    "--backoff-base",
    "1s",
    "--backoff-max",
    "4s",
)
SERVING = re.compile(r"Serving http://([0-9.]+):(\d+)/")
REQUIRED = ("event", "level", "timestamp")


@dataclass
class SplitControllerProc(ControllerProc):
    """A `ControllerProc` whose stderr (`log`) and stdout (`out`) go to files of their own."""

    @property
    def out(self) -> Path:
        return self.state.parent / f"{self.state.stem}.controller.stdout"

    def start(self, bound: float = 30) -> SplitControllerProc:
        with self.log.open("ab") as err, self.out.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

        def serving() -> str | None:
            self.check_alive()
            found = SERVING.findall(self.log.read_text(errors="replace"))
            return f"http://{found[-1][0]}:{found[-1][1]}" if found else None

        self.base = wait_until("the controller serves HTTP", serving, bound)
        return self


def _docs(h: TestHost, standin: Path, site: str, platform: str) -> list[str]:
    docs = [server_yaml(h)]
    docs += [platform_yaml(name, h, standin, ref=ref) for name, ref in VERSIONS.items()]
    return [*docs, site_yaml(site, platform, cron={"interval": "2s"})]


def _not_json(text: str) -> list[str]:
    """The non-empty lines of `text` that are not a JSON object with the required keys."""
    bad = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry: Any = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(entry, dict) or any(key not in entry for key in REQUIRED):
            bad.append(line)
    return bad


def _forms(secret: str) -> set[str]:
    """How a secret may appear: raw, JSON-escaped, URL-encoded."""
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}


def test_every_log_line_is_json_and_holds_no_secret(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(*_docs(h01, standin_repo, site, "d1028"), message="install")
    state = tmp_path / "journal.sqlite"
    controller = SplitControllerProc(repo, [h01], state, ARGS)
    served: list[bytes] = []
    controller.start()
    try:
        controller.wait_converged([site], bound=60)
        settings = h01.platforms / "d1028/web/sites" / site / "settings.php"
        creds = _credentials(settings)
        secrets = [creds["password"], creds["hash_salt"]]
        assert all(len(secret) >= 16 for secret in secrets), "not a generated secret"

        def cron_ran() -> bool:
            last = controller.sites()[site]["lastCron"]
            return last is not None and last["result"] == "succeeded"

        wait_until(f"a cron run of {site}\n{controller.tail()}", cron_ran, 30)

        repo.commit(*_docs(h01, standin_repo, site, "d1036"), message="upgrade")

        def upgraded() -> bool:
            row = controller.sites()[site]
            version = (row["sync"], row["health"], row["coreVersion"])
            return bool(version == ("Synced", "Healthy", "10.3.6"))

        wait_until(f"{site} upgraded to 10.3.6\n{controller.tail()}", upgraded, 60, 0.2)
        served += [controller.get("/api/status")[1], controller.get("/metrics")[1]]

        repo.commit(*_docs(h01, standin_repo, site, "d1040"), message="failing upgrade")

        def failed() -> dict[str, Any] | None:
            row: dict[str, Any] = controller.sites()[site]
            last = row["lastAction"] or {}
            if last.get("kind") == "site.upgrade" and last.get("result") == "failed":
                return row
            return None

        row = wait_until(f"the failing upgrade of {site}\n{controller.tail()}", failed, 60)
        assert FAILURE in str(row["lastAction"]["error"]), row
        assert row["coreVersion"] == "10.3.6", row
        served += [controller.get("/api/status")[1], controller.get("/metrics")[1]]
        controller.signal(signal.SIGTERM)
        assert controller.wait_exit(bound=60) == 0, controller.tail()
    finally:
        controller.stop()

    stderr = controller.log.read_text(errors="replace")
    stdout = controller.out.read_text(errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) >= 10, stderr  # a full run logs its applies, steps, cron, stop
    entries = [json.loads(line) for line in lines if not _not_json(line)]
    events = [str(entry["event"]) for entry in entries]
    assert any(event.startswith("stopping") for event in events), events  # SIGTERM's line
    # a job's lines are bound with its context (the cron runs)
    bound = [e for e in entries if (e.get("server"), e.get("site")) == (h01.name, site)]
    assert any(e.get("action") == "site.cron" for e in bound), entries

    journal = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    places = {
        "stderr": stderr.encode(),
        "stdout": stdout.encode(),
        "journal": journal,
        "/api/status and /metrics": b"\n".join(served),
    }
    leaks = [
        f"the {name} in {where}"
        for name, secret in zip(("password", "hash_salt"), secrets, strict=True)
        for where, text in places.items()
        if any(form.encode() in text for form in _forms(secret))
    ]
    # both checks reported at once: a line that is not JSON does not hide a leak
    assert {"not JSON on stderr": _not_json(stderr), "secrets found": leaks} == {
        "not JSON on stderr": [],
        "secrets found": [],
    }
