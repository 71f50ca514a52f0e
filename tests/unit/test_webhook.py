"""Webhook verification (`reconciler.api.webhook`) as tables: GitHub and GitLab deliveries, good
and bad, and the pushed branch."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.webhook import Verdict, pushed_branch, verify_delivery

SECRET = b"It's a Secret to Everybody"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# GitHub's own documented example: secret "It's a Secret to Everybody", payload "Hello, World!"
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

ACCEPTED: list[tuple[str, dict[str, str], bytes, Verdict]] = [
    (
        "github's documented example",
        {"X-Hub-Signature-256": GITHUB_EXAMPLE},
        b"Hello, World!",
        Verdict(True, "signed for github", "github", None, None),
    ),
    (
        "github push",
        {"X-Hub-Signature-256": sign(PUSH), "X-GitHub-Event": "push"},
        PUSH,
        Verdict(True, "signed for github", "github", "push", "main"),
    ),
    (
        "header names in any case, hex in upper case",
        {"x-hub-signature-256": sign(PUSH).upper().replace("SHA256=", "sha256=")},
        PUSH,
        Verdict(True, "signed for github", "github", None, "main"),
    ),
    (
        "github ping names no branch",
        {
            "X-Hub-Signature-256": sign(b'{"zen": "Keep it logically awesome."}'),
            "X-GitHub-Event": "ping",
        },
        b'{"zen": "Keep it logically awesome."}',
        Verdict(True, "signed for github", "github", "ping", None),
    ),
    (
        "gitlab push",
        {"X-Gitlab-Token": SECRET.decode(), "X-Gitlab-Event": "Push Hook"},
        PUSH,
        Verdict(True, "signed for gitlab", "gitlab", "Push Hook", "main"),
    ),
    (
        "both headers, both right",
        {"X-Gitlab-Token": SECRET.decode(), "X-Hub-Signature-256": sign(PUSH)},
        PUSH,
        Verdict(True, "signed for github", "github", None, "main"),
    ),
]

REJECTED: list[tuple[str, dict[str, str], bytes, str]] = [
    ("no header at all", {}, PUSH, "no X-Hub-Signature-256 or X-Gitlab-Token header"),
    (
        "SHA-1 only",
        {"X-Hub-Signature": "sha1=" + hmac.new(SECRET, PUSH, hashlib.sha1).hexdigest()},
        PUSH,
        "only X-Hub-Signature-256 (SHA-256) is accepted, not SHA-1",
    ),
    (
        "signed with another secret",
        {"X-Hub-Signature-256": sign(PUSH, b"not the secret")},
        PUSH,
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
    (
        "signature of another body",
        {"X-Hub-Signature-256": sign(PUSH)},
        PUSH.replace(b"main", b"prod"),
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
    (
        "truncated signature",
        {"X-Hub-Signature-256": sign(PUSH)[:-2]},
        PUSH,
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
    (
        "the secret itself as a signature",
        {"X-Hub-Signature-256": "sha256=" + SECRET.decode()},
        PUSH,
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
    (
        "no sha256= prefix",
        {"X-Hub-Signature-256": sign(PUSH).removeprefix("sha256=")},
        PUSH,
        "X-Hub-Signature-256 is not of the form sha256=<hex>",
    ),
    (
        "empty signature",
        {"X-Hub-Signature-256": ""},
        PUSH,
        "X-Hub-Signature-256 is not of the form sha256=<hex>",
    ),
    (
        "non-ASCII signature",
        {"X-Hub-Signature-256": "sha256=é" + "0" * 63},
        PUSH,
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
    (
        "wrong gitlab token",
        {"X-Gitlab-Token": "guess"},
        PUSH,
        "X-Gitlab-Token is not the webhook secret",
    ),
    (
        "empty gitlab token",
        {"X-Gitlab-Token": ""},
        PUSH,
        "X-Gitlab-Token is not the webhook secret",
    ),
    (
        "gitlab token with a trailing space",
        {"X-Gitlab-Token": SECRET.decode() + " "},
        PUSH,
        "X-Gitlab-Token is not the webhook secret",
    ),
    (
        "both headers, gitlab wrong",
        {"X-Gitlab-Token": "guess", "X-Hub-Signature-256": sign(PUSH)},
        PUSH,
        "X-Gitlab-Token is not the webhook secret",
    ),
    (
        "both headers, github wrong",
        {"X-Gitlab-Token": SECRET.decode(), "X-Hub-Signature-256": sign(b"other")},
        PUSH,
        "X-Hub-Signature-256 does not match the body signed with the webhook secret",
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_accepted(headers: dict[str, str], body: bytes, expected: Verdict) -> None:
    assert verify_delivery(headers, body, SECRET) == expected


@pytest.mark.parametrize(
    ("headers", "body", "reason"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected(headers: dict[str, str], body: bytes, reason: str) -> None:
    verdict = verify_delivery(headers, body, SECRET)
    assert not verdict.accepted
    assert verdict.reason == reason
    assert verdict.branch is None and verdict.event is None
    assert SECRET.decode() not in verdict.reason


def test_an_empty_secret_is_refused_not_matched_by_an_empty_token() -> None:
    with pytest.raises(ValueError, match="empty"):
        verify_delivery({"X-Gitlab-Token": ""}, PUSH, b"")


BRANCHES: list[tuple[str, bytes, str | None]] = [
    ("main", PUSH, "main"),
    ("slashes", json.dumps({"ref": "refs/heads/feature/x"}).encode(), "feature/x"),
    ("a tag", json.dumps({"ref": "refs/tags/v1.0"}).encode(), None),
    ("no branch name", json.dumps({"ref": "refs/heads/"}).encode(), None),
    ("no ref", b'{"zen": "Design for failure."}', None),
    ("ref not a string", b'{"ref": 1}', None),
    ("a JSON list", b'["refs/heads/main"]', None),
    ("not JSON", b"ref=refs/heads/main", None),
    ("not UTF-8", b"\xff\xfe", None),
    ("empty", b"", None),
    ("github form encoding", urlencode({"payload": PUSH.decode()}).encode(), "main"),
    ("form encoding, no payload", b"payload=", None),
]


@pytest.mark.parametrize(
    ("body", "branch"), [c[1:] for c in BRANCHES], ids=[c[0] for c in BRANCHES]
)
def test_pushed_branch(body: bytes, branch: str | None) -> None:
    assert pushed_branch(body) == branch


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512), flip=st.integers())
def test_any_signed_body_passes_and_any_changed_byte_fails(
    secret: bytes, body: bytes, flip: int
) -> None:
    signature = {"X-Hub-Signature-256": sign(body, secret)}
    assert verify_delivery(signature, body, secret).accepted
    changed = bytearray(body or b"\0")
    changed[flip % len(changed)] ^= 0x01
    assert not verify_delivery(signature, bytes(changed), secret).accepted
