"""The rig's pytest fixtures (registered from tests/conftest.py).

Fixtures:

* ``rig_hosts`` (session) -> ``list[TestHost]``: h01, h02 (user aegir) and
  h03 (root), each with sshd, nginx and php-fpm running. Started once per
  session (running daemons from an earlier session are reused), stopped at
  session end by the last session using them.
* ``rig_workspace`` (function) -> ``list[TestHost]``: the same hosts, each
  scoped to this test's own ``platforms/<tag>``, ``backups/<tag>`` and
  ``vhosts/<tag>`` (included by nginx); removed, and nginx reloaded, after
  the test. Use it instead of the bare hosts whenever a test writes files.
* ``mariadb_admin`` (session) -> :class:`rig.mariadb.MariaDBAdmin`.
* ``fresh_db`` (function) -> ``Callable[[], FreshDatabase]``: each call makes
  a new ``rt_<random>`` database and user; all dropped at test end.
* ``standin_repo`` (session) -> ``Path`` of the bare stand-in platform repo
  built by ``examples/standin-platform/build-repo.sh``.
* ``rig_repo_dir`` (function) -> ``Path``: an empty directory, readable by
  every host user, for :func:`rig.gitrepos.make_bare_repo`; removed after.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig import gitrepos, hosts, layout, mariadb, procs, web
from rig.hosts import TestHost
from rig.mariadb import FreshDatabase, MariaDBAdmin

SETUP_HINT = "run scripts/setup-test-host.sh as root first"


def _preflight() -> None:
    if os.geteuid() != 0:
        pytest.fail("the integration rig must run as root (it starts sshd and nginx)")
    try:
        pwd.getpwnam("aegir")
    except KeyError:
        pytest.fail(f"user aegir does not exist: {SETUP_HINT}")
    for path in (layout.SUDOERS, layout.ADMIN_CNF):
        if not path.exists():
            pytest.fail(f"{path} is missing: {SETUP_HINT}")


def start_rig() -> list[TestHost]:
    """Prepare and start every host (idempotent); return the hosts."""
    for spec in layout.HOST_SPECS:
        hosts.prepare_host_tree(spec)
    for spec in layout.HOST_SPECS:
        hosts.start_sshd(spec)
        web.start_web(spec)
    for spec in layout.HOST_SPECS:
        hosts.wait_sshd(spec)
        web.wait_web(spec)
    return [hosts.make_host(spec) for spec in layout.HOST_SPECS]


def stop_rig() -> None:
    for spec in layout.HOST_SPECS:
        web.stop_web(spec)
        hosts.stop_sshd(spec)


@pytest.fixture(scope="session")
def rig_hosts() -> Iterator[list[TestHost]]:
    _preflight()
    layout.BASE.mkdir(mode=0o755, exist_ok=True)
    lease = procs.SessionLease(layout.BASE)
    with lease.starting():
        started = start_rig()
    try:
        yield started
    finally:
        try:
            if lease.leave():
                stop_rig()
        finally:
            lease.done()


def _tag(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)[:40].strip("_") + "-" + secrets.token_hex(3)


@contextlib.contextmanager
def scoped_dirs(host: TestHost) -> Iterator[TestHost]:
    """Make the `platforms/`, `backups/` and `vhosts/` directories of a scoped *host* (owned by
    its login user, group and mode as their parents); remove them on exit, nginx reloaded if a
    vhost was written."""
    pw = pwd.getpwnam(host.user)
    made = (host.platforms, host.backups, host.vhost_dir)
    for d in made:
        d.mkdir(mode=0o755)
        os.chown(d, pw.pw_uid, d.parent.stat().st_gid)
        d.chmod(d.parent.stat().st_mode & 0o7777)
    try:
        yield host
    finally:
        had_vhosts = host.vhost_dir.exists() and any(host.vhost_dir.iterdir())
        for d in made:
            shutil.rmtree(d, ignore_errors=True)
        if had_vhosts:
            web.reload_nginx(layout.spec_for(host.name))


@contextlib.contextmanager
def workspace(rig_hosts: list[TestHost], tag: str) -> Iterator[list[TestHost]]:
    """Each host scoped to its own `platforms/`, `backups/`, `vhosts/` subdirectory `tag`,
    removed on exit (nginx reloaded if a vhost was written)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(scoped_dirs(h.scoped(tag))) for h in rig_hosts]


@pytest.fixture
def rig_workspace(
    rig_hosts: list[TestHost], request: pytest.FixtureRequest
) -> Iterator[list[TestHost]]:
    with workspace(rig_hosts, _tag(request.node.nodeid)) as scoped:
        yield scoped


def clean_host(host: TestHost) -> None:
    """Empty *host*'s platforms, backups and vhosts (all tests'!), reload nginx.

    Only for a test that owns the whole rig; prefer ``rig_workspace``.
    """
    for d in (host.platforms, host.backups, host.vhost_dir):
        for entry in d.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    web.reload_nginx(layout.spec_for(host.name))


@pytest.fixture(scope="session")
def mariadb_admin() -> MariaDBAdmin:
    _preflight()
    adm = mariadb.admin()
    adm.run_sql("SELECT 1")
    return adm


@pytest.fixture
def fresh_db(mariadb_admin: MariaDBAdmin) -> Iterator[Callable[[], FreshDatabase]]:
    with fresh_databases(mariadb_admin) as make:
        yield make


@contextlib.contextmanager
def fresh_databases(admin: MariaDBAdmin) -> Iterator[Callable[[], FreshDatabase]]:
    """A factory of fresh databases, every one dropped (with its user) on exit."""
    with contextlib.ExitStack() as stack:

        def make() -> FreshDatabase:
            return stack.enter_context(mariadb.fresh_database(admin))

        yield make


@pytest.fixture(scope="session")
def standin_repo(rig_hosts: list[TestHost]) -> Iterator[Path]:
    d = gitrepos.repo_dir()
    repo = d / "standin.git"
    try:
        yield gitrepos.build_standin_repo(repo)
    finally:
        hosts.untrust_repo(repo)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rig_repo_dir(rig_hosts: list[TestHost]) -> Iterator[Path]:
    d = gitrepos.repo_dir()
    try:
        yield d
    finally:
        for repo in d.iterdir():
            hosts.untrust_repo(repo)
        shutil.rmtree(d, ignore_errors=True)
