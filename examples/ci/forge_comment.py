#!/usr/bin/env python3
"""The reconciler's plan as ONE comment on a GitHub pull request or a GitLab merge request.

Python 3 standard library only (no curl, no jq, no pip install). Called by plan-comment.sh:

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER = "<!-- reconciler-plan -->"
GITHUB_LIMIT = 65536
GITLAB_LIMIT = 1000000
TIMEOUT = 30.0
RETRY_DELAYS: tuple[float, ...] = (2.0, 5.0)
"""Waits before the second and third try of a request that met a 502/503/504 or no answer."""
MAX_PAGES = 100
EXIT_CONFIG = 3
EXIT_API = 4


class ConfigError(Exception):
    """A variable is missing or wrong: exit 3."""


class ApiError(Exception):
    """The forge's API refused or could not be reached: exit 4."""


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


# --- cutting to the forge's limit ---------------------------------------------------------------


def size(text: str) -> int:
    """A text's size as counted against a limit: its UTF-8 bytes, never fewer than its
    characters (or its UTF-16 units), so a text within it is within the forge's limit too."""
    return len(text.encode("utf-8"))


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass
class _Open:
    """What a cut must close so that the rest of the comment renders: a code fence, and
    `<details>` blocks."""

    fence: str | None = None
    details: int = 0

    def feed(self, line: str) -> None:
        m = _FENCE_RE.match(line)
        if self.fence is not None:
            closing = m and m.group(1)[0] == self.fence[0] and len(m.group(1)) >= len(self.fence)
            if closing and not line.strip().strip(self.fence[0]):
                self.fence = None
            return
        if m:
            self.fence = m.group(1)
            return
        stripped = line.strip().lower()
        self.details += stripped.count("<details>") - stripped.count("</details>")
        self.details = max(self.details, 0)

    def closers(self) -> str:
        out = ""
        if self.fence is not None:
            out += self.fence + "\n"
        out += "\n</details>\n" * self.details
        return out


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


def fit(content: str, budget: int, note: Callable[[int, int], str]) -> tuple[str, bool]:
    """`content` whole when its size is below `budget`; else its first lines (a line cut only
    when the first one alone is too long), the fence and `<details>` they leave open closed,
    and `note(kept, total)` — all below `budget`. Returns the text and whether it was cut."""
    text = content if content.endswith("\n") else content + "\n"
    if size(text) < budget:
        return text, False
    lines = text.splitlines(keepends=True)
    total = len(lines)
    state = _Open()
    used = 0
    kept = 0
    for line in lines:
        after = _Open(state.fence, state.details)
        after.feed(line)
        need = used + size(line) + size(after.closers()) + size(note(kept + 1, total))
        if need >= budget:
            break
        used += size(line)
        state = after
        kept += 1
    head = "".join(lines[:kept])
    if kept == 0:
        # the first line alone is over the budget: keep what fits of it (whole characters)
        room = budget - size(note(0, total)) - size(state.closers()) - 2
        raw = lines[0].encode("utf-8")[: max(room, 0)]
        head = raw.decode("utf-8", errors="ignore") + "\n"
    return head + state.closers() + note(kept, total), True


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


def has_marker(body: str, marker: str) -> bool:
    return any(line.strip() == marker for line in body.splitlines())


# --- the comment's content ----------------------------------------------------------------------


def _fenced(text: str, info: str = "text") -> str:
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def _problems(stderr: str) -> str:
    """The `error:`/`warning:` lines of a command's stderr with their `hint:` lines; without
    any, its last 30 lines (its log lines are in the job log)."""
    lines = stderr.splitlines()
    picked = [
        line
        for line in lines
        if line.startswith(("error:", "warning:")) or line.lstrip().startswith("hint:")
    ]
    return "\n".join(picked or lines[-30:])


def _at(revision: str | None) -> str:
    return f" at `{revision[:12]}`" if revision else ""


def compose(
    validate_out: str,
    validate_err: str,
    validate_exit: int,
    plan_out: str | None = None,
    plan_err: str | None = None,
    plan_exit: int | None = None,
    revision: str | None = None,
) -> str:
    """The comment's markdown for what `reconciler validate` and `reconciler plan` did."""
    if validate_exit != 0:
        lines = [line for line in validate_out.splitlines() if line.strip()]
        counted = lines and re.fullmatch(r"\d+ error\(s\) in \d+ file\(s\)\.", lines[-1])
        why = f" ({lines[-1].rstrip('.')})" if counted else ""
        detail = "\n".join(
            part for part in (validate_out.rstrip(), _problems(validate_err)) if part
        )
        return (
            f"**Validation failed**{why}{_at(revision)}: nothing was planned.\n\n"
            + _fenced(detail or f"reconciler validate exited {validate_exit}")
            + "\nFix the manifests and push again; `reconciler validate` lists the same problems."
            "\n"
        )
    if plan_exit is None:
        return f"**Valid**{_at(revision)}; no plan was made.\n"
    plan = (plan_out or "").rstrip()
    if plan_exit in (0, 2):
        return (plan or f"`reconciler plan` printed nothing (exit {plan_exit}).") + "\n"
    errors = _problems(plan_err or "")
    first = next((ln for ln in errors.splitlines() if ln.startswith("error:")), "")
    out = f"**Plan failed**{_at(revision)} (`reconciler plan` exited {plan_exit})"
    out += ": the check fails; nothing can be applied from this plan.\n\n"
    out += _fenced(errors or first or f"exit {plan_exit}")
    if plan:
        out += "\nThe plan as far as it was made:\n\n" + plan + "\n"
    return out


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
