"""The CI examples' scripts (examples/ci/plan-comment.sh, apply.sh) run as a CI job runs them,
against the real rig: a git repository of manifests for h01 (nginx, php-fpm, MariaDB) building
the stand-in platform, pull request branches pushed to it, and a local HTTP server standing in
for GitHub's issue comments API or GitLab's merge request notes API (`unit.test_ci_forge`).

GitHub: the first push of a branch adding a site posts ONE comment starting with the plan's
summary line; later pushes update that comment (never a second one), a manifest with an error
fails the check and the comment shows the error; merged into main, apply.sh installs the site
(answering on h01) with the journal in PostgreSQL. GitLab: the same note created then updated,
the SSH files given as File variables, and a plan that cannot observe a server failing the job.
Every run is checked for the token, the SSH key and the journal's password in its output.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.postgres import fresh_schema, query
from rig.web import http_get
from unit.test_ci_forge import FakeForge

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
MARKER = "<!-- reconciler-plan -->"


class Repo:
    """The repository of manifests, checked out as a CI job checks it out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        argv = ["git", "-C", str(self.path), "-c", "user.name=T", "-c", "user.email=t@localhost"]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def push(self, *docs: str, message: str = "manifests") -> str:
        """Commit `docs` as the manifests on the current branch; the new HEAD."""
        (self.path / "hosting.yaml").write_text("---\n".join(docs))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


class Job:
    """examples/ci scripts run in the checkout with a CI job's environment: the forge's
    variables, the secrets, `reconciler` and python3 on PATH, nothing of this shell's CI."""

    def __init__(self, repo: Repo, forge: FakeForge, secrets_env: dict[str, str]) -> None:
        self.repo = repo
        self.forge = forge
        self.secrets_env = secrets_env
        self.outputs: list[str] = []

    def env(self, **more: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "RECONCILER_", "PG"))
            and k not in ("CI", "PR_NUMBER")
            and "proxy" not in k.lower()
        }
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
        return {**base, **self.forge.env(), **self.secrets_env, **more}

    def run(self, script: str, **more: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(CI / script)],
            cwd=self.repo.path,
            env=self.env(**more),
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
        self.outputs.append(done.stdout + done.stderr)
        return done

    def assert_no_secret_printed(self, *values: str) -> None:
        for value in (self.forge.token, *values):
            for output in self.outputs:
                assert value not in output


def _key_lines(host: TestHost) -> list[str]:
    """The base64 lines of the host's private key: none may ever be printed."""
    return [ln for ln in host.identity_file.read_text().splitlines() if "-----" not in ln and ln]


def _comment(forge: FakeForge) -> str:
    (body,) = forge.bodies()
    assert body.rstrip().endswith(MARKER), body[-200:]
    return body


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def sites(mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    token = secrets.token_hex(3)
    names = [f"ci-{token}.example.com", f"ci2-{token}.example.com"]
    try:
        yield names
    finally:
        for site in names:
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


@pytest.fixture
def journal() -> Iterator[tuple[str, str]]:
    """`(url, schema)`: a fresh PostgreSQL journal. On the rig's own server (trust
    authentication: a password is not checked) the URL gets one, to see that it is never
    printed."""
    with fresh_schema() as (url, schema):
        parts = urlsplit(url)
        if (
            parts.password is None
            and parts.username
            and "RECONCILER_TEST_POSTGRES" not in os.environ
        ):
            netloc = f"{parts.username}:pw-{secrets.token_hex(8)}@{parts.netloc.split('@', 1)[1]}"
            url = urlunsplit(parts._replace(netloc=netloc))
        yield url, schema


@pytest.mark.timeout(900)
def test_github_pull_request_comment_then_merge_applies(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    sites: list[str],
    journal: tuple[str, str],
) -> None:
    site, second = sites
    url, schema = journal
    repo = Repo(tmp_path / "hosting")
    base = [server_yaml(h01), platform_yaml("std", h01, standin_repo)]
    repo.push(*base, message="the server and its platform")
    ssh = {
        "RECONCILER_SSH_KEY": h01.identity_file.read_text(),
        "RECONCILER_KNOWN_HOSTS": h01.known_hosts.read_text(),
    }
    with FakeForge("github") as forge:
        job = Job(repo, forge, ssh)

        # main as it is: the platform built (the first merge), the journal in PostgreSQL
        done = job.run("apply.sh", RECONCILER_STATE=url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Plan: 1 to add, 0 to change, 0 to delete." in done.stdout

        # a pull request adding a site: one comment, the plan's summary line first
        repo.git("checkout", "-q", "-b", "add-site")
        head = repo.push(*base, site_yaml(site, "std"), message="a new site")
        done = job.run("plan-comment.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        body = _comment(forge)
        assert body.startswith("**Plan: 1 to add, 0 to change, 0 to delete.**"), body
        assert f"(at `{head[:12]}`)" in body.splitlines()[0]
        assert f"`+ site.install` `{site}` on `{h01.name}`" in body
        assert "[job log](https://github.example/acme/hosting/actions/runs/4242)" in body
        assert "Plan: 1 to add" in done.stdout  # the whole plan in the job's log
        assert forge.writes() == [("POST", forge.collection)]
        (first,) = forge.comments

        # a second push: the same comment, updated
        head = repo.push(*base, site_yaml(site, "std"), site_yaml(second, "std"), message="two")
        done = job.run("plan-comment.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        body = _comment(forge)
        assert body.startswith("**Plan: 2 to add, 0 to change, 0 to delete.**"), body
        assert f"(at `{head[:12]}`)" in body and f"`{second}`" in body
        assert forge.comments == [first]
        assert forge.writes()[1:] == [("PATCH", forge.item(first["id"]))]

        # a push with an error: the check fails, the comment shows the error
        head = repo.push(*base, site_yaml(site, "std"), site_yaml(second, "nope"), message="bad")
        done = job.run("plan-comment.sh")
        assert done.returncode == 1, done.stdout + done.stderr
        body = _comment(forge)
        first_line = body.splitlines()[0]
        assert first_line == (
            f"**Validation failed** (1 error(s) in 1 file(s)) at `{head[:12]}`: "
            "nothing was planned."
        ), body
        assert f"Site {second}: spec.platform: no Platform named 'nope'" in body
        assert "hint: declare it, or use one of: std" in body
        assert "Plan:" not in body

        # fixed (the second site dropped again): the same comment shows the plan again
        repo.push(*base, site_yaml(site, "std"), message="one site after all")
        done = job.run("plan-comment.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        assert _comment(forge).startswith("**Plan: 1 to add, 0 to change, 0 to delete.**")
        assert len(forge.comments) == 1
        assert [m for m, _ in forge.writes()] == ["POST", "PATCH", "PATCH", "PATCH"]
        assert all(s.authorized for s in forge.seen)

        # merged into main: apply.sh installs the site; the journal is in PostgreSQL
        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", "merge add-site", "add-site")
        done = job.run("apply.sh", RECONCILER_STATE=url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Plan: 1 to add, 0 to change, 0 to delete." in done.stdout
        assert f"site.install {site}" in done.stdout + done.stderr
        page = http_get("127.0.0.1", h01.http_port, "/", site)
        assert page.status == 200, page.body[:300]
        assert http_get("127.0.0.1", h01.http_port, "/", second).status != 200
        actions = query(schema, "SELECT kind, object_name, status FROM actions ORDER BY id")
        assert actions == [
            ("platform.build", "std", "succeeded"),
            ("site.install", site, "succeeded"),
        ]
        runs = query(schema, "SELECT status FROM runs ORDER BY id")
        assert runs == [("succeeded",), ("succeeded",)]

        # applied again: nothing to do, still exit 0
        done = job.run("apply.sh", RECONCILER_STATE=url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "No changes." in done.stdout

    password = urlsplit(url).password
    job.assert_no_secret_printed(*_key_lines(h01), *([password] if password else []))


@pytest.mark.timeout(600)
def test_gitlab_merge_request_note_updated_and_a_failed_plan(
    h01: TestHost, standin_repo: Path, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "hosting")
    base = [server_yaml(h01), platform_yaml("std", h01, standin_repo)]
    repo.push(*base, message="main")
    repo.git("checkout", "-q", "-b", "feature")
    ssh = {  # GitLab variables of type File: the job gets their paths
        "RECONCILER_SSH_KEY_FILE": str(h01.identity_file),
        "RECONCILER_KNOWN_HOSTS_FILE": str(h01.known_hosts),
    }
    with FakeForge("gitlab") as forge:
        note = forge.add("Looks fine to me", system=False)
        forge.add("added 1 commit", system=True)
        job = Job(repo, forge, ssh)

        repo.push(*base, site_yaml("gl.example.com", "std"), message="a site")
        done = job.run("plan-comment.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        mine = forge.comments[-1]
        assert mine["body"].startswith("**Plan: 2 to add, 0 to change, 0 to delete.**")
        assert "[job log](https://gitlab.example/acme/hosting/-/jobs/4242)" in mine["body"]

        # a server that cannot be observed: plan exits 1, the job fails, the note says why
        gone = server_yaml(h01).replace(f"name: {h01.name}", "name: gone", 1)
        gone = gone.replace(f"port: {h01.port}", f"port: {_closed_port()}", 1)
        repo.push(*base, gone, site_yaml("gl.example.com", "std"), message="a second server")
        done = job.run("plan-comment.sh")
        assert done.returncode == 1, done.stdout + done.stderr
        assert mine["body"].startswith("**Plan failed** at `"), mine["body"]
        assert "error: the plan is incomplete: not observed: gone" in mine["body"]
        assert "The plan as far as it was made:" in mine["body"]
        assert "incomplete: not observed: gone" in mine["body"]

        # the server dropped again: the plan is back, in the same note
        repo.push(*base, site_yaml("gl.example.com", "std"), message="one server")
        done = job.run("plan-comment.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        assert mine["body"].startswith("**Plan: 2 to add")
        assert [c["id"] for c in forge.comments] == [note, note + 1, mine["id"]]
        assert forge.comments[0]["body"] == "Looks fine to me"
        assert [m for m, _ in forge.writes()] == ["POST", "PUT", "PUT"]
        assert all(s.authorized for s in forge.seen)

        # a token GitLab refuses: exit 4, the plan still in the log, the token never shown
        done = job.run("plan-comment.sh", GITLAB_TOKEN="glpat-wrong-" + secrets.token_hex(4))
        assert done.returncode == 4, done.stdout + done.stderr
        assert "answered 401" in done.stderr and "check GITLAB_TOKEN" in done.stderr
        assert "**Plan: 2 to add" in done.stdout
        assert "glpat-wrong-" not in done.stdout + done.stderr
    job.assert_no_secret_printed(*_key_lines(h01))


@pytest.mark.parametrize(
    ("script", "drop", "says"),
    [
        ("plan-comment.sh", "GITHUB_TOKEN", "GITHUB_TOKEN is not set: add `GITHUB_TOKEN:"),
        ("plan-comment.sh", "PR_NUMBER", "PR_NUMBER is not set"),
        ("plan-comment.sh", "RECONCILER_SSH_KEY", "RECONCILER_SSH_KEY is not set: set it from"),
        ("plan-comment.sh", "RECONCILER_KNOWN_HOSTS", "RECONCILER_KNOWN_HOSTS is not set"),
        ("apply.sh", "RECONCILER_STATE", "RECONCILER_STATE is not set: set it from a CI secret"),
        ("apply.sh", "RECONCILER_SSH_KEY", "RECONCILER_SSH_KEY is not set: set it from"),
    ],
)
def test_a_missing_variable_is_named_and_exit_3(
    tmp_path: Path, script: str, drop: str, says: str
) -> None:
    repo = Repo(tmp_path / "hosting")
    repo.push("apiVersion: reconciler/v1\nkind: Server\nmetadata: {name: x}\n")
    with FakeForge("github") as forge:
        job = Job(
            repo,
            forge,
            {
                "RECONCILER_SSH_KEY": "not really a key",
                "RECONCILER_KNOWN_HOSTS": "[127.0.0.1]:1 ssh-ed25519 AAAA",
                "RECONCILER_STATE": "postgresql://ci@127.0.0.1:1/none",
            },
        )
        env = {k: v for k, v in job.env().items() if k != drop}
        done = subprocess.run(
            [str(CI / script)], cwd=repo.path, env=env, capture_output=True, text=True, timeout=60
        )
        assert forge.seen == []
    assert done.returncode == 3, done.stdout + done.stderr
    assert says in done.stderr
    assert "not really a key" not in done.stdout + done.stderr


def test_apply_refuses_a_journal_that_would_die_with_the_runner(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "hosting")
    repo.push("apiVersion: reconciler/v1\nkind: Server\nmetadata: {name: x}\n")
    with FakeForge("github") as forge:
        job = Job(repo, forge, {"RECONCILER_STATE": str(tmp_path / "journal.sqlite")})
        done = job.run("apply.sh")
    assert done.returncode == 3
    assert "RECONCILER_STATE is not a postgresql:// URL" in done.stderr
