"""Declared against observed (`compute_status`), as a table of cases without servers."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.observe.sync import compute_status
from unit.builders import check, platform, server, site

PATH = "/var/aegir/platforms/p1"


def _observed(*codebases: ObservedPlatform, reachable: bool = True) -> list[ObservedServer]:
    if not reachable:
        return [ObservedServer(name="web1", reachable=False, error="connection refused")]
    return [ObservedServer(name="web1", reachable=True, platforms=codebases)]


def _codebase(
    name: str | None,
    path: str,
    *sites: str,
    docroot: str = "web",
    version: str = "10.3.6",
    exists: bool = True,
) -> ObservedPlatform:
    return ObservedPlatform(
        name=name,
        path=path,
        docroot=docroot if exists else None,
        core_version=version if exists else None,
        exists=exists,
        sites=tuple(ObservedSite(name=s, path=f"{path}/{docroot}/sites/{s}") for s in sites),
    )


CASES: list[tuple[str, list[dict[str, Any]], list[ObservedServer], dict[str, tuple[str, str]]]] = [
    (
        "all synced",
        [server(), platform(), site()],
        _observed(_codebase("p1", PATH, "www.example.com")),
        {"Platform p1": ("Synced", ""), "Site www.example.com": ("Synced", "")},
    ),
    (
        "site missing",
        [server(), platform(), site()],
        _observed(_codebase("p1", PATH)),
        {"Site www.example.com": ("Missing", "no site directory on web1")},
    ),
    (
        "platform missing",
        [server(), platform(), site()],
        _observed(_codebase("p1", PATH, exists=False)),
        {"Platform p1": ("Missing", "no Drupal codebase at /var/aegir/platforms/p1")},
    ),
    (
        "docroot differs",
        [server(), platform(docroot="docroot"), site()],
        _observed(_codebase("p1", PATH, "www.example.com")),
        {"Platform p1": ("OutOfSync", "its docroot is 'web', declared 'docroot'")},
    ),
    (
        "site on another platform",
        [server(), platform(), platform("p2"), site(platform="p2")],
        _observed(
            _codebase("p1", PATH, "www.example.com", version="10.2.8"),
            _codebase("p2", "/var/aegir/platforms/p2"),
        ),
        {
            "Site www.example.com": (
                "OutOfSync",
                "on platform p1 (web1, core 10.2.8), declared p2 (core 10.3.6)",
            )
        },
    ),
    (
        "absent and gone",
        [server(), platform(), site(state="absent")],
        _observed(_codebase("p1", PATH)),
        {"Site www.example.com": ("Synced", "absent as declared")},
    ),
    (
        "absent but present",
        [server(), platform(), site(state="absent")],
        _observed(_codebase("p1", PATH, "www.example.com")),
        {"Site www.example.com": ("OutOfSync", "declared absent, still on web1:")},
    ),
    (
        "unreachable server",
        [server(), platform(), site()],
        _observed(reachable=False),
        {
            "Platform p1": ("Unknown", "connection refused"),
            "Site www.example.com": ("Unknown", "connection refused"),
        },
    ),
]


@pytest.mark.parametrize(("name", "docs", "observed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_status(
    name: str,
    docs: list[dict[str, Any]],
    observed: list[ObservedServer],
    expected: dict[str, tuple[str, str]],
) -> None:
    report = compute_status(check(docs).require(), observed)
    rows = {f"{r.kind} {r.name}": r for r in (*report.platforms, *report.sites)}
    for key, (sync, reason) in expected.items():
        assert rows[key].sync == sync, rows[key]
        assert reason in rows[key].reason, rows[key].reason
        if not reason:
            assert rows[key].reason == ""


def test_unmanaged_codebases_and_sites() -> None:
    observed = _observed(
        _codebase("p1", PATH, "www.example.com", "stray.example.com"),
        _codebase(None, "/var/aegir/platforms/old", "older.example.com", version="9.5.11"),
    )
    report = compute_status(check([server(), platform(), site()]).require(), observed)
    assert {(r.kind, r.name, r.sync) for r in report.unmanaged} == {
        ("Site", "stray.example.com", "Unmanaged"),
        ("Platform", "/var/aegir/platforms/old", "Unmanaged"),
        ("Site", "older.example.com", "Unmanaged"),
    }
