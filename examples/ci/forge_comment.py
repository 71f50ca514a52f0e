#!/usr/bin/env python3
"""The reconciler's plan as ONE comment on a GitHub pull request or a GitLab merge request.

Python 3 standard library only (no curl, no jq, no pip install), with forge_env.py (the
variables) and comment_text.py (the text) beside it. Called by plan-comment.sh:

    forge_comment.py check
        Exit 0 when the forge's variables (below) are all there; else 3, naming the missing one.
    forge_comment.py compose --validate-out F --validate-err F --validate-exit N
                             [--plan-out F --plan-err F --plan-exit N] [--revision SHA]
        Print the comment's markdown: the plan as `reconciler plan --format markdown` wrote it
        (its summary line first), or what failed (validation errors, a plan error) and why.
    forge_comment.py post FILE
        Post FILE's markdown as the comment: the comment of an earlier run (the one holding the
        hidden marker `<!-- reconciler-plan -->`) is updated, so a pull request keeps one plan
        comment however often it is pushed; without one, a comment is created. A text over the
        forge's limit is cut at a line, with a note saying where and that the whole plan is in
        the CI job's log.

Environment (nothing is read from the command line, so no secret shows in a process list):

    RECONCILER_FORGE        github or gitlab; default: github under GitHub Actions
                            (GITHUB_ACTIONS=true), gitlab under GitLab CI (GITLAB_CI=true)
    GitHub: GITHUB_API_URL (e.g. https://api.github.com), GITHUB_REPOSITORY (owner/name),
            PR_NUMBER (else read from the event file GITHUB_EVENT_PATH), GITHUB_TOKEN;
            for the job link: GITHUB_SERVER_URL, GITHUB_RUN_ID
    GitLab: CI_API_V4_URL (e.g. https://gitlab.com/api/v4), CI_PROJECT_ID,
            CI_MERGE_REQUEST_IID, GITLAB_TOKEN (a project access token with the `api` scope:
            CI_JOB_TOKEN may not write notes); for the job link: CI_JOB_URL
    RECONCILER_COMMENT_KEY    optional: one plan comment per key (e.g. staging, production)
                              when one pull request runs several plans
    RECONCILER_COMMENT_LIMIT  optional: cut below this many characters instead of the forge's
                              limit (GitHub 65536, GitLab 1000000)

Exit codes:
    0  done
    3  a variable is missing or wrong (the message names it and what to set); nothing was sent
    4  the forge's API refused the request or could not be reached; the comment was not posted
The token is sent in a request header only; no message of this program contains it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from comment_text import compose, fit, has_marker, size
from forge_env import ConfigError, Forge, forge_from_env

TIMEOUT = 30.0
RETRY_DELAYS: tuple[float, ...] = (2.0, 5.0)
"""Waits before the second and third try of a request that met a 502/503/504 or no answer."""
MAX_PAGES = 100
EXIT_CONFIG = 3
EXIT_API = 4


class ApiError(Exception):
    """The forge's API refused or could not be reached: exit 4."""


# --- the comment as posted ----------------------------------------------------------------------


def cut_note(forge: Forge, kept: int, total: int) -> str:
    job = forge.job_url
    where = f"[the CI job's log]({job})" if job else "the log of the CI job that posted it"
    why = (
        f"this comment is kept below {forge.limit} characters (RECONCILER_COMMENT_LIMIT)"
        if forge.limit_set
        else f"a {forge.name} comment holds at most {forge.limit} characters"
    )
    at = f"after line {kept} of {total}" if kept else f"inside line 1 of {total}"
    return (
        f"\n> :scissors: **Cut here, {at}:** {why}. "
        f"The whole plan is in {where}; `reconciler plan` on this branch shows it too.\n"
    )


def footer(forge: Forge) -> str:
    if forge.job_url:
        return f"\n<sub>Posted by CI, updated on every push: [job log]({forge.job_url}).</sub>\n"
    return "\n<sub>Posted by CI, updated on every push.</sub>\n"


def comment_body(forge: Forge, content: str) -> str:
    """The comment as posted: the content (cut if need be), a footer, and the marker last."""
    tail = footer(forge) + "\n" + forge.marker + "\n"
    budget = forge.limit - size(tail)

    def note(kept: int, total: int) -> str:
        return cut_note(forge, kept, total)

    text, _ = fit(content, budget, note)
    return text + tail


# --- the forge's API ----------------------------------------------------------------------------


def _describe(forge: Forge, method: str, url: str, exc: urllib.error.HTTPError) -> str:
    detail = ""
    try:
        data = json.loads(exc.read() or b"null")
        if isinstance(data, dict):
            detail = str(data.get("message") or data.get("error") or "")
    except (ValueError, OSError):
        pass
    hints = {
        401: f"the token was refused: check {forge.auth_var}",
        403: f"the token may not write comments: check {forge.auth_var}'s permissions"
        + (
            " (the job needs `permissions: {pull-requests: write}`)"
            if forge.name == "GitHub"
            else ""
        )
        + (" (the api scope, role Reporter or above)" if forge.name == "GitLab" else ""),
        404: "not found: check the repository or project and the pull request's number, "
        f"and that {forge.auth_var} may see them",
        413: "the comment is too large: set RECONCILER_COMMENT_LIMIT lower",
        422: "the comment was refused (too long?): set RECONCILER_COMMENT_LIMIT lower",
    }
    text = f"{forge.name} API: {method} {url} answered {exc.code} {exc.reason}"
    if detail:
        text += f": {detail[:300]}"
    hint = hints.get(exc.code)
    return text + (f"\n  hint: {hint}" if hint else "")


def request(
    forge: Forge, method: str, url: str, payload: dict[str, Any] | None = None
) -> tuple[Any, Mapping[str, str]]:
    """The JSON answer and headers of one API request (retried on 502/503/504 or no answer)."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    headers = {**forge.headers, "User-Agent": "reconciler-ci", "Accept-Charset": "utf-8"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    for attempt in range(len(RETRY_DELAYS) + 1):
        # the scheme is http(s): forge_from_env checked the API URL (and a next page's URL)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
                raw = resp.read()
                return json.loads(raw) if raw.strip() else None, resp.headers
        except urllib.error.HTTPError as exc:
            if exc.code in (502, 503, 504) and attempt < len(RETRY_DELAYS):
                time.sleep(RETRY_DELAYS[attempt])
                continue
            raise ApiError(_describe(forge, method, url, exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            if attempt < len(RETRY_DELAYS):
                time.sleep(RETRY_DELAYS[attempt])
                continue
            reason = getattr(exc, "reason", exc)
            raise ApiError(
                f"{forge.name} API: {method} {url}: no answer ({reason})\n"
                "  hint: check the API URL and the runner's network"
            ) from None
        except ValueError:
            raise ApiError(f"{forge.name} API: {method} {url} answered with no JSON") from None
    raise AssertionError("unreachable")


def _next_page(url: str, headers: Mapping[str, str]) -> str | None:
    link = headers.get("Link") or ""
    for part in link.split(","):
        m = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if m and re.search(r'rel="?next"?', m.group(2)):
            nxt = m.group(1)
            return nxt if urllib.parse.urlsplit(nxt).scheme in ("https", "http") else None
    page = (headers.get("X-Next-Page") or "").strip()
    if page.isdigit():
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query["page"] = page
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return None


def find_comment(forge: Forge) -> int | None:
    """The id of the newest comment holding the marker, or None."""
    url: str | None = forge.comments_url + "?" + urllib.parse.urlencode(forge.list_query)
    found: int | None = None
    for _ in range(MAX_PAGES):
        if url is None:
            break
        items, headers = request(forge, "GET", url)
        if not isinstance(items, list):
            raise ApiError(f"{forge.name} API: GET {url} answered no list of comments")
        for item in items:
            if not isinstance(item, dict) or item.get("system"):
                continue
            body = item.get("body")
            if isinstance(body, str) and has_marker(body, forge.marker):
                found = int(item["id"])
        url = _next_page(url, headers)
    return found


def post(forge: Forge, content: str) -> tuple[str, int]:
    """Update the marked comment, or create one: `("updated" | "created", id)`."""
    body = comment_body(forge, content)
    existing = find_comment(forge)
    if existing is not None:
        request(forge, forge.update_method, f"{forge.item_prefix}{existing}", {"body": body})
        return "updated", existing
    answer, _ = request(forge, "POST", forge.comments_url, {"body": body})
    if not isinstance(answer, dict) or "id" not in answer:
        raise ApiError(f"{forge.name} API: POST {forge.comments_url} answered no comment id")
    return "created", int(answer["id"])


# --- command line -------------------------------------------------------------------------------


def _read(path: str | None) -> str:
    if not path:
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="forge_comment.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check the forge's variables")
    c = sub.add_parser("compose", help="print the comment's markdown")
    c.add_argument("--validate-out", required=True)
    c.add_argument("--validate-err")
    c.add_argument("--validate-exit", type=int, required=True)
    c.add_argument("--plan-out")
    c.add_argument("--plan-err")
    c.add_argument("--plan-exit", type=int)
    c.add_argument("--revision")
    p = sub.add_parser("post", help="create or update the plan comment")
    p.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "compose":
            sys.stdout.write(
                compose(
                    _read(args.validate_out),
                    _read(args.validate_err),
                    args.validate_exit,
                    _read(args.plan_out) if args.plan_exit is not None else None,
                    _read(args.plan_err) if args.plan_exit is not None else None,
                    args.plan_exit,
                    args.revision,
                )
            )
            return 0
        forge = forge_from_env(env)
        if args.command == "check":
            return 0
        done, number = post(forge, _read(args.file))
        print(f"forge_comment: {done} {forge.name} comment {number}", file=sys.stderr)
        return 0
    except ConfigError as exc:
        print(f"forge_comment: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ApiError as exc:
        print(f"forge_comment: {exc}", file=sys.stderr)
        return EXIT_API


if __name__ == "__main__":
    sys.exit(main())
