"""Webhook deliveries from GitHub and GitLab: signed with our secret or not, and which branch.

Pure: headers, body and the secret in, a `Verdict` out; nothing is read, sent or logged here.

* GitHub (and Gitea/Forgejo, which send the same header) signs the body:
  `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>`. The legacy SHA-1
  `X-Hub-Signature` is not accepted on its own.
* GitLab sends the secret itself: `X-Gitlab-Token: <secret>`.

Both comparisons are constant-time (`hmac.compare_digest`). A delivery that carries both headers
must pass both. A delivery with neither is rejected: there is no unsigned mode.

The pushed branch comes from the payload's `ref` (`refs/heads/<branch>`), for a JSON body or
GitHub's form encoding (`payload=<json>`); it is `None` for a tag push, a ping or any payload
without a branch, and the controller decides what to do then (a fetch is always safe).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qs

__all__ = [
    "GITHUB_EVENT",
    "GITHUB_SIGNATURE",
    "GITLAB_EVENT",
    "GITLAB_TOKEN",
    "Provider",
    "Verdict",
    "pushed_branch",
    "verify_delivery",
]

GITHUB_SIGNATURE: Final = "x-hub-signature-256"
GITHUB_LEGACY_SIGNATURE: Final = "x-hub-signature"
GITHUB_EVENT: Final = "x-github-event"
GITLAB_TOKEN: Final = "x-gitlab-token"  # noqa: S105 - a header name, not a token
GITLAB_EVENT: Final = "x-gitlab-event"
_SHA256_PREFIX: Final = "sha256="
_BRANCH_PREFIX: Final = "refs/heads/"

Provider = Literal["github", "gitlab"]


@dataclass(frozen=True)
class Verdict:
    """What `verify_delivery` decided.

    `reason` says why in words fit for a log line and a 401 body (it never holds the secret or
    the signature). `provider` is the scheme that was checked (`github` when both were), `event`
    the provider's event header (`push`, `ping`, `Push Hook`, ...) and `branch` the pushed branch;
    the last two are only filled for an accepted delivery.
    """

    accepted: bool
    reason: str
    provider: Provider | None = None
    event: str | None = None
    branch: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`name` (lower case) looked up case-insensitively in any mapping of headers."""
    found = headers.get(name)
    if found is not None:
        return found
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _check_github(given: str, body: bytes, secret: bytes) -> str | None:
    """None when `given` is the body's HMAC-SHA256 under `secret`, else the reason why not."""
    given = given.strip()
    if not given.lower().startswith(_SHA256_PREFIX):
        return "X-Hub-Signature-256 is not of the form sha256=<hex>"
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    offered = given[len(_SHA256_PREFIX) :].lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, offered):
        return "X-Hub-Signature-256 does not match the body signed with the webhook secret"
    return None


def _check_gitlab(given: str, secret: bytes) -> str | None:
    """None when the GitLab token is the secret, else the reason why not."""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), secret):
        return "X-Gitlab-Token is not the webhook secret"
    return None


def pushed_branch(body: bytes) -> str | None:
    """The branch a push delivery names (`ref: refs/heads/<branch>`), or None.

    None for a tag push, a payload without `ref`, or a body that is neither JSON nor GitHub's
    `payload=<json>` form encoding.
    """
    text = body.decode("utf-8", "replace")
    if text.startswith("payload="):
        values = parse_qs(text, max_num_fields=16).get("payload")
        text = values[0] if values else ""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if isinstance(ref, str) and ref.startswith(_BRANCH_PREFIX) and len(ref) > len(_BRANCH_PREFIX):
        return ref[len(_BRANCH_PREFIX) :]
    return None


def verify_delivery(headers: Mapping[str, str], body: bytes, secret: bytes) -> Verdict:
    """Accept a delivery signed with `secret` (GitHub) or carrying it (GitLab); reject the rest.

    `headers` may use any capitalisation. `secret` must not be empty: an empty secret would
    accept a GitLab delivery with an empty token, so it is refused outright.
    """
    if not secret:
        raise ValueError("the webhook secret is empty")
    github = _header(headers, GITHUB_SIGNATURE)
    gitlab = _header(headers, GITLAB_TOKEN)
    if github is None and gitlab is None:
        if _header(headers, GITHUB_LEGACY_SIGNATURE) is not None:
            return Verdict(False, "only X-Hub-Signature-256 (SHA-256) is accepted, not SHA-1")
        return Verdict(False, "no X-Hub-Signature-256 or X-Gitlab-Token header")
    if gitlab is not None:
        problem = _check_gitlab(gitlab, secret)
        if problem is not None:
            return Verdict(False, problem, "gitlab")
    if github is not None:
        problem = _check_github(github, body, secret)
        if problem is not None:
            return Verdict(False, problem, "github")
    provider: Provider = "github" if github is not None else "gitlab"
    event = _header(headers, GITHUB_EVENT if provider == "github" else GITLAB_EVENT)
    return Verdict(True, f"signed for {provider}", provider, event, pushed_branch(body))
