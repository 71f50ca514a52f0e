"""The CI examples: both workflow files parse; every script a step runs exists in examples/ci/ and
is executable; each job runs on the right event with the variables its script needs, secrets
only through `env` (never spelled into a shell line); the scripts parse as POSIX sh."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
CHECKOUT = ".reconciler/"
"""Where the workflows check the reconciler out: `.reconciler/examples/ci/x.sh` is this
repository's `examples/ci/x.sh`."""


def _load(name: str) -> dict[str, Any]:
    data = YAML(typ="safe").load((CI / name).read_text())
    assert isinstance(data, dict), name
    return data


def _shell_lines(name: str) -> list[tuple[str, str]]:
    """(job, line) for every shell line of every job: GitHub steps' `run`, GitLab's
    `before_script` and `script` (with `extends` followed)."""
    doc = _load(name)
    out: list[tuple[str, str]] = []
    if name == "github-actions.yml":
        for job, spec in doc["jobs"].items():
            for step in spec["steps"]:
                out += [(job, line) for line in str(step.get("run", "")).splitlines() if line]
        return out
    for job, spec in doc.items():
        if not isinstance(spec, dict) or job.startswith(".") or "script" not in spec:
            continue
        base = doc.get(spec.get("extends", ""), {})
        lines = list(base.get("before_script", [])) + list(spec.get("before_script", []))
        out += [(job, str(line)) for line in lines + list(spec["script"])]
    return out


def _scripts(line: str) -> list[str]:
    """The repository files a shell line runs: words naming a `.sh` or `.py` file."""
    return [w for w in shlex.split(line) if re.search(r"\.(sh|py)$", w)]


WORKFLOWS = ["github-actions.yml", "gitlab-ci.yml"]
EXPECTED = [
    ("github-actions.yml", "plan", "examples/ci/plan-comment.sh"),
    ("github-actions.yml", "apply", "examples/ci/apply.sh"),
    ("gitlab-ci.yml", "reconciler-plan", "examples/ci/plan-comment.sh"),
    ("gitlab-ci.yml", "reconciler-apply", "examples/ci/apply.sh"),
]


@pytest.mark.parametrize(("workflow", "job", "script"), EXPECTED)
def test_each_job_runs_its_script_and_the_script_is_there(
    workflow: str, job: str, script: str
) -> None:
    called = [
        word.removeprefix(CHECKOUT)
        for name, line in _shell_lines(workflow)
        if name == job
        for word in _scripts(line)
    ]
    assert called == [script]
    path = ROOT / script
    assert path.is_file(), path
    assert os.access(path, os.X_OK), f"{script} is not executable (git update-index --chmod=+x)"
    assert path.read_text().startswith("#!/bin/sh\n")


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_script_any_step_calls_exists_and_is_executable(workflow: str) -> None:
    lines = _shell_lines(workflow)
    assert lines
    for _job, line in lines:
        for word in _scripts(line):
            assert word.startswith(CHECKOUT), (workflow, line)
            path = ROOT / word.removeprefix(CHECKOUT)
            assert path.is_file() and os.access(path, os.X_OK), (workflow, line)


@pytest.mark.parametrize("script", ["plan-comment.sh", "apply.sh"])
def test_the_scripts_parse_and_find_their_helpers(script: str) -> None:
    for shell in ("sh", "bash"):
        done = subprocess.run([shell, "-n", str(CI / script)], capture_output=True, text=True)
        assert done.returncode == 0, (shell, done.stderr)
    text = (CI / script).read_text()
    assert "\nset -eu\n" in text
    assert "set -x" not in text
    assert re.search(r"^# Exit codes:\n(#   \d .*\n)+", text, re.M), "exit codes at the top"
    assert '. "$(dirname "$0")/lib.sh"' in text
    for helper in re.findall(r'"\$ci_dir/([\w.-]+)"', text):
        assert (CI / helper).is_file(), helper
    assert (CI / "lib.sh").is_file()
    assert os.access(CI / "forge_comment.py", os.X_OK)


def _github_step(job: str, script: str) -> dict[str, Any]:
    steps = _load("github-actions.yml")["jobs"][job]["steps"]
    (step,) = [s for s in steps if script in str(s.get("run", ""))]
    return dict(step)


def test_github_triggers_permissions_and_variables() -> None:
    doc = _load("github-actions.yml")
    assert doc["on"] == {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}}
    assert doc["permissions"] == {"contents": "read"}
    plan = doc["jobs"]["plan"]
    assert "github.event_name == 'pull_request'" in plan["if"]
    assert "head.repo.full_name == github.repository" in plan["if"]  # no fork: no secrets
    assert plan["permissions"]["pull-requests"] == "write"
    assert plan["concurrency"]["group"].startswith("reconciler-plan-")
    env = _github_step("plan", "plan-comment.sh")["env"]
    assert env == {
        "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
        "PR_NUMBER": "${{ github.event.pull_request.number }}",
        "RECONCILER_SSH_KEY": "${{ secrets.RECONCILER_SSH_KEY }}",
        "RECONCILER_KNOWN_HOSTS": "${{ secrets.RECONCILER_KNOWN_HOSTS }}",
    }
    apply = doc["jobs"]["apply"]
    assert apply["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert apply["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    env = _github_step("apply", "apply.sh")["env"]
    assert env["RECONCILER_STATE"] == "${{ secrets.RECONCILER_STATE }}"
    assert {"PGPASSWORD", "RECONCILER_SSH_KEY", "RECONCILER_KNOWN_HOSTS"} <= set(env)


def test_gitlab_rules_and_variables() -> None:
    doc = _load("gitlab-ci.yml")
    plan, apply = doc["reconciler-plan"], doc["reconciler-apply"]
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert apply["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'}
    ]
    assert apply["resource_group"] == "reconciler-apply"
    assert apply["interruptible"] is False
    assert plan["stage"] == "test" and apply["stage"] == "deploy"  # GitLab's default stages
    # the token and secrets are CI/CD variables set in the project, never in the file
    text = (CI / "gitlab-ci.yml").read_text()
    for name in ("GITLAB_TOKEN", "RECONCILER_STATE", "PGPASSWORD", "RECONCILER_SSH_KEY_FILE"):
        assert name not in doc.get("variables", {})
        assert name in text  # documented at the top


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_no_secret_or_expression_is_spelled_into_a_shell_line(workflow: str) -> None:
    for job, line in _shell_lines(workflow):
        assert "${{" not in line, (job, line)  # expressions go through env (no injection)
        for name in ("TOKEN", "SSH_KEY", "KNOWN_HOSTS", "STATE", "PGPASSWORD"):
            assert name not in line, (job, line)


@pytest.mark.parametrize("name", [*WORKFLOWS, "README.md"])
def test_auto_apply_and_ci_apply_are_said_to_be_alternatives(name: str) -> None:
    text = " ".join((CI / name).read_text().replace("#", " ").split())
    assert "--auto-apply" in text
    assert re.search(r"alternatives: use one, never both at once", text, re.I), name
