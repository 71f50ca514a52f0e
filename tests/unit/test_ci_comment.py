"""examples/ci/forge_comment.py without a forge: the comment's content (plan, validation errors,
plan errors), the hidden marker, cutting a long plan below a forge's limit, and reading the
forge's variables (each missing one named, with what to set)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def load_forge_comment() -> ModuleType:
    """examples/ci/forge_comment.py as a module (a script beside its two helper modules, not
    part of the package): imported with examples/ci on the path, as running it puts it."""
    if str(CI) not in sys.path:
        sys.path.append(str(CI))
    return importlib.import_module("forge_comment")


fc = load_forge_comment()

MARKER = "<!-- reconciler-plan -->"
PLAN = """**Plan: 1 to add, 0 to change, 0 to delete.** (at `0123456789ab`)

<details>
<summary>1 action, in the order apply runs them</summary>

- `+ site.install` `a.example.com` on `h01` — not installed

</details>
"""

GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_API_URL": "https://api.github.example/",
    "GITHUB_REPOSITORY": "acme/hosting",
    "PR_NUMBER": "7",
    "GITHUB_TOKEN": "ghs_secret",
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_RUN_ID": "99",
}
GITLAB_ENV = {
    "GITLAB_CI": "true",
    "CI_API_V4_URL": "https://gitlab.example/api/v4",
    "CI_PROJECT_ID": "42",
    "CI_MERGE_REQUEST_IID": "3",
    "GITLAB_TOKEN": "glpat-secret",
    "CI_JOB_URL": "https://gitlab.example/acme/hosting/-/jobs/5",
}


def _forge(env: dict[str, str], **more: str) -> Any:
    return fc.forge_from_env({**env, **more})


# --- content ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 2])
def test_a_plan_is_posted_as_rendered_summary_first(code: int) -> None:
    body = fc.compose("Valid: 1 servers ...\n", "", 0, PLAN, "log line\n", code, "0" * 40)
    assert body == PLAN
    assert body.startswith("**Plan: 1 to add, 0 to change, 0 to delete.**")


def test_validation_errors_are_shown_and_nothing_planned() -> None:
    out = (
        "m.yaml:16:18: Site x.example.com: spec.platform: no Platform named 'nope'\n"
        "    hint: declare it first\n"
        "1 error(s) in 1 file(s).\n"
    )
    body = fc.compose(out, "", 1, revision="abcdef0123456789")
    first = body.splitlines()[0]
    assert first == (
        "**Validation failed** (1 error(s) in 1 file(s)) at `abcdef012345`: nothing was planned."
    )
    assert "```text\nm.yaml:16:18: Site x.example.com: spec.platform: no Platform named" in body
    assert "    hint: declare it first\n1 error(s) in 1 file(s).\n```\n" in body


def test_an_unreadable_repository_shows_the_error_lines_only() -> None:
    err = "2024-01-01 [info] something\nerror: repository 'x' does not exist\n  hint: pass --repo\n"
    body = fc.compose("", err, 1)
    assert body.startswith("**Validation failed**: nothing was planned.")
    assert "error: repository 'x' does not exist\n  hint: pass --repo\n```" in body
    assert "[info]" not in body


def test_a_failed_plan_shows_its_errors_and_the_partial_plan() -> None:
    err = (
        "2024-01-01 [warning] observe failed server=web2\n"
        "error: the plan is incomplete: not observed: web2\n"
    )
    partial = "**Plan: 1 to add, 0 to change, 0 to delete.** — incomplete: not observed: web2\n"
    body = fc.compose("Valid.\n", "", 0, partial, err, 1, "f" * 40)
    assert body.startswith("**Plan failed** at `ffffffffffff` (`reconciler plan` exited 1)")
    assert "```text\nerror: the plan is incomplete: not observed: web2\n```" in body
    assert "[warning]" not in body
    assert body.rstrip().endswith(partial.rstrip())


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    body = fc.compose("x.yaml:1:1: bad ```` here\n1 error(s) in 1 file(s).\n", "", 1)
    assert "`````text\n" in body and body.count("`````") == 2


# --- marker -----------------------------------------------------------------------------------


def test_the_marker_ends_the_comment_and_is_found_only_on_a_line_of_its_own() -> None:
    forge = _forge(GITHUB_ENV)
    body = fc.comment_body(forge, PLAN)
    assert body.startswith(PLAN)
    assert body.rstrip("\n").endswith("\n<!-- reconciler-plan -->")
    assert "[job log](https://github.example/acme/hosting/actions/runs/99)" in body
    assert fc.has_marker(body, MARKER)
    assert fc.has_marker("x\r\n<!-- reconciler-plan -->  \r\n", MARKER)
    assert not fc.has_marker("> <!-- reconciler-plan -->", MARKER)  # a quote of it
    assert not fc.has_marker(body, "<!-- reconciler-plan:staging -->")


def test_a_comment_key_makes_its_own_marker() -> None:
    forge = _forge(GITLAB_ENV, RECONCILER_COMMENT_KEY="staging")
    assert forge.marker == "<!-- reconciler-plan:staging -->"
    with pytest.raises(fc.ConfigError, match="RECONCILER_COMMENT_KEY"):
        _forge(GITLAB_ENV, RECONCILER_COMMENT_KEY="a b")


# --- cutting ----------------------------------------------------------------------------------


def _long_plan(count: int) -> str:
    rows = [f"- `+ site.install` `s{i}.example.com` on `h01` — not installed" for i in range(count)]
    head = f"**Plan: {count} to add, 0 to change, 0 to delete.** (at `0123456789ab`)\n\n"
    return head + "<details>\n<summary>many</summary>\n\n" + "\n".join(rows) + "\n\n</details>\n"


@pytest.mark.parametrize(("env", "limit"), [(GITHUB_ENV, 65536), (GITLAB_ENV, 1000000)])
def test_a_long_plan_is_cut_below_the_forge_limit_with_a_note(
    env: dict[str, str], limit: int
) -> None:
    forge = _forge(env)
    assert forge.limit == limit
    plan = _long_plan(limit // 50)  # about 60 characters (and 3 more bytes) a line: over it
    body = fc.comment_body(forge, plan)
    assert fc.size(body) < limit and len(body) < limit
    assert body.startswith(f"**Plan: {limit // 50} to add")
    total = len(plan.splitlines())
    found = re.search(r"Cut here, after line (\d+) of (\d+):", body)
    assert found is not None, body[-500:]
    kept = int(found.group(1))
    assert int(found.group(2)) == total and 0 < kept < total
    assert body.startswith("".join(plan.splitlines(keepends=True)[:kept]))
    assert f"holds at most {limit} characters" in body
    assert f"[the CI job's log]({forge.job_url})" in body
    # the open <details> is closed before the note, and the marker is still last
    cut_at = body.index(":scissors:")
    assert body[:cut_at].count("<details>") == body[:cut_at].count("</details>")
    assert body.rstrip("\n").endswith(forge.marker)
    # it fills the room: one more line would not have fit
    next_line = plan.splitlines(keepends=True)[kept]
    assert fc.size(body) + fc.size(next_line) >= limit - 200


def test_a_plan_just_below_the_limit_is_whole_and_one_over_is_cut() -> None:
    forge = _forge(GITHUB_ENV, RECONCILER_COMMENT_LIMIT="5000")
    tail = fc.size(fc.comment_body(forge, "x\n")) - 2
    room = 5000 - tail
    exact = "a" * (room - 2) + "\n"  # body of size limit - 1: whole
    body = fc.comment_body(forge, exact)
    assert fc.size(body) == 4999 and "Cut here" not in body
    over = "a" * (room - 1) + "\n"
    cut = fc.comment_body(forge, over)
    assert fc.size(cut) < 5000 and "Cut here, inside line 1 of 1:" in cut


def test_a_cut_inside_a_code_block_closes_it() -> None:
    lines = [
        "**Validation failed** (900 error(s) in 1 file(s)): nothing was planned.",
        "",
        "```text",
    ]
    lines += [
        f"m.yaml:{i}:1: Site s{i}: spec.platform: no Platform named 'nope'" for i in range(900)
    ]
    body = fc.comment_body(_forge(GITHUB_ENV, RECONCILER_COMMENT_LIMIT="4000"), "\n".join(lines))
    head = body[: body.index(":scissors:")]
    assert head.count("```") == 2, head[-300:]
    assert fc.size(body) < 4000


def test_multibyte_characters_count_as_their_bytes() -> None:
    forge = _forge(GITHUB_ENV, RECONCILER_COMMENT_LIMIT="3000")
    body = fc.comment_body(forge, "— é ✓ 🌈\n" * 1000)
    assert fc.size(body) < 3000
    body.encode("utf-8")  # no broken character


# --- variables --------------------------------------------------------------------------------


def test_github_and_gitlab_urls_and_auth_headers() -> None:
    gh = _forge(GITHUB_ENV)
    assert gh.comments_url == "https://api.github.example/repos/acme/hosting/issues/7/comments"
    assert gh.item_prefix == "https://api.github.example/repos/acme/hosting/issues/comments/"
    assert gh.update_method == "PATCH"
    assert gh.headers["Authorization"] == "Bearer ghs_secret"
    assert "ghs_secret" not in repr(gh)
    gl = _forge(GITLAB_ENV, CI_PROJECT_ID="acme/hosting")
    assert gl.comments_url == (
        "https://gitlab.example/api/v4/projects/acme%2Fhosting/merge_requests/3/notes"
    )
    assert gl.update_method == "PUT"
    assert gl.headers == {"PRIVATE-TOKEN": "glpat-secret"}
    assert gl.job_url == GITLAB_ENV["CI_JOB_URL"]


def test_the_pull_request_number_comes_from_the_event_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 12}}')
    env = {k: v for k, v in GITHUB_ENV.items() if k != "PR_NUMBER"}
    forge = _forge(env, GITHUB_EVENT_PATH=str(event))
    assert forge.comments_url.endswith("/issues/12/comments")
    event.write_text('{"push": {}}')
    with pytest.raises(fc.ConfigError, match="PR_NUMBER is not set"):
        _forge(env, GITHUB_EVENT_PATH=str(event))


@pytest.mark.parametrize(
    ("base", "missing", "says"),
    [
        (GITHUB_ENV, "GITHUB_API_URL", "https://api.github.com"),
        (GITHUB_ENV, "GITHUB_REPOSITORY", "owner/name"),
        (GITHUB_ENV, "PR_NUMBER", "github.event.pull_request.number"),
        (GITHUB_ENV, "GITHUB_TOKEN", "pull-requests: write"),
        (GITLAB_ENV, "CI_API_V4_URL", "/api/v4"),
        (GITLAB_ENV, "CI_PROJECT_ID", "project"),
        (GITLAB_ENV, "CI_MERGE_REQUEST_IID", "merge_request_event"),
        (GITLAB_ENV, "GITLAB_TOKEN", "project access token"),
    ],
)
def test_each_missing_variable_is_named_with_what_to_set(
    base: dict[str, str], missing: str, says: str
) -> None:
    env = {k: v for k, v in base.items() if k != missing}
    with pytest.raises(fc.ConfigError) as info:
        fc.forge_from_env(env)
    assert str(info.value).startswith(missing)
    assert says in str(info.value)


def test_no_forge_at_all_says_what_to_set() -> None:
    with pytest.raises(fc.ConfigError, match="set RECONCILER_FORGE to github or gitlab"):
        fc.forge_from_env({})
    with pytest.raises(fc.ConfigError, match="RECONCILER_FORGE is 'bitbucket'"):
        fc.forge_from_env({"RECONCILER_FORGE": "bitbucket"})
    with pytest.raises(fc.ConfigError, match="RECONCILER_COMMENT_LIMIT"):
        _forge(GITHUB_ENV, RECONCILER_COMMENT_LIMIT="70000")
