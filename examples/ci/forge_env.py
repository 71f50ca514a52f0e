"""The forge a CI job runs on, read from the environment: where a pull request's comments are,
how to authenticate, the comment limit (GitHub or GitLab). Used by forge_comment.py.

Every variable that is missing or wrong is a `ConfigError` naming it and what to set.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

MARKER = "<!-- reconciler-plan -->"
GITHUB_LIMIT = 65536
GITLAB_LIMIT = 1000000


class ConfigError(Exception):
    """A variable is missing or wrong: exit 3."""


@dataclass(frozen=True)
class Forge:
    """Where a pull request's comments are, and how to write them."""

    name: str
    """GitHub or GitLab, for messages."""
    comments_url: str
    """The list (GET) and create (POST) URL of the request's comments."""
    item_prefix: str
    """The comment with id N is `item_prefix + N` (PATCH on GitHub, PUT on GitLab)."""
    update_method: str
    headers: dict[str, str] = field(repr=False)
    """Holds the token: never printed (repr=False)."""
    auth_var: str
    limit: int
    limit_set: bool
    """The limit was lowered by RECONCILER_COMMENT_LIMIT."""
    job_url: str | None
    marker: str
    list_query: dict[str, str]


def _need(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {what}")
    return value


def _api_url(env: Mapping[str, str], name: str, what: str) -> str:
    url = _need(env, name, what).rstrip("/")
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ConfigError(f"{name} is {url!r}, not an https:// URL: {what}")
    return url


def marker_for(env: Mapping[str, str]) -> str:
    key = env.get("RECONCILER_COMMENT_KEY", "").strip()
    if not key:
        return MARKER
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", key):
        raise ConfigError(
            "RECONCILER_COMMENT_KEY may hold only letters, digits, '.', '_' and '-' "
            "(at most 64): set it to a short name such as staging"
        )
    return f"<!-- reconciler-plan:{key} -->"


def _limit(env: Mapping[str, str], default: int) -> int:
    raw = env.get("RECONCILER_COMMENT_LIMIT", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 2000 <= int(raw) <= default:
        raise ConfigError(
            f"RECONCILER_COMMENT_LIMIT is {raw!r}: set a number of characters from 2000 to "
            f"{default}, or unset it"
        )
    return int(raw)


def _github_pr_number(env: Mapping[str, str]) -> str:
    number = env.get("PR_NUMBER", "").strip()
    event_path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not number and event_path:
        try:
            with open(event_path, encoding="utf-8") as f:
                event = json.load(f)
            number = str((event.get("pull_request") or {}).get("number") or "")
        except (OSError, ValueError, AttributeError):
            number = ""
    if not number:
        raise ConfigError(
            "PR_NUMBER is not set and GITHUB_EVENT_PATH holds no pull request: run this on the "
            "pull_request event, or set PR_NUMBER: ${{ github.event.pull_request.number }} "
            "in the step's env"
        )
    if not number.isdigit():
        raise ConfigError(f"PR_NUMBER is {number!r}, not a pull request number")
    return number


def forge_from_env(env: Mapping[str, str]) -> Forge:
    """The forge and pull request the environment names, or `ConfigError`."""
    kind = env.get("RECONCILER_FORGE", "").strip().lower()
    if not kind:
        if env.get("GITHUB_ACTIONS") == "true":
            kind = "github"
        elif env.get("GITLAB_CI") == "true":
            kind = "gitlab"
        else:
            raise ConfigError(
                "RECONCILER_FORGE is not set, and this is neither GitHub Actions "
                "(GITHUB_ACTIONS=true) nor GitLab CI (GITLAB_CI=true): set RECONCILER_FORGE "
                "to github or gitlab"
            )
    marker = marker_for(env)
    if kind == "github":
        api = _api_url(
            env,
            "GITHUB_API_URL",
            "GitHub Actions sets it; elsewhere set it to the API's base URL "
            "(https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server)",
        )
        repo = _need(env, "GITHUB_REPOSITORY", "GitHub Actions sets it; else set it to owner/name")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise ConfigError(f"GITHUB_REPOSITORY is {repo!r}: set it to owner/name")
        number = _github_pr_number(env)
        token = _need(
            env,
            "GITHUB_TOKEN",
            "add `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step's env, and "
            "`permissions: {pull-requests: write}` to the job",
        )
        server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
        run = env.get("GITHUB_RUN_ID", "")
        return Forge(
            name="GitHub",
            comments_url=f"{api}/repos/{repo}/issues/{number}/comments",
            item_prefix=f"{api}/repos/{repo}/issues/comments/",
            update_method="PATCH",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            auth_var="GITHUB_TOKEN",
            limit=_limit(env, GITHUB_LIMIT),
            limit_set=bool(env.get("RECONCILER_COMMENT_LIMIT", "").strip()),
            job_url=f"{server}/{repo}/actions/runs/{run}" if server and run else None,
            marker=marker,
            list_query={"per_page": "100"},
        )
    if kind == "gitlab":
        api = _api_url(
            env,
            "CI_API_V4_URL",
            "GitLab CI sets it; elsewhere set it to the API's base URL "
            "(https://gitlab.com/api/v4, or https://HOST/api/v4)",
        )
        project = _need(env, "CI_PROJECT_ID", "GitLab CI sets it; else set the project's id")
        iid = _need(
            env,
            "CI_MERGE_REQUEST_IID",
            "run this job in a merge request pipeline "
            '(rules: - if: $CI_PIPELINE_SOURCE == "merge_request_event")',
        )
        if not iid.isdigit():
            raise ConfigError(f"CI_MERGE_REQUEST_IID is {iid!r}, not a merge request number")
        token = _need(
            env,
            "GITLAB_TOKEN",
            "create a project access token with the api scope (role Reporter or above) and "
            "store it as a masked CI/CD variable GITLAB_TOKEN (CI_JOB_TOKEN may not write notes)",
        )
        quoted = urllib.parse.quote(project, safe="")
        notes = f"{api}/projects/{quoted}/merge_requests/{iid}/notes"
        return Forge(
            name="GitLab",
            comments_url=notes,
            item_prefix=f"{notes}/",
            update_method="PUT",
            headers={"PRIVATE-TOKEN": token},
            auth_var="GITLAB_TOKEN",
            limit=_limit(env, GITLAB_LIMIT),
            limit_set=bool(env.get("RECONCILER_COMMENT_LIMIT", "").strip()),
            job_url=env.get("CI_JOB_URL") or None,
            marker=marker,
            list_query={"per_page": "100", "sort": "asc", "order_by": "created_at"},
        )
    raise ConfigError(f"RECONCILER_FORGE is {kind!r}: set it to github or gitlab")
