"""Constants of the rig: where everything lives and which ports it uses.

Owns no fixture. The base directory is a constant (not a pytest tmp dir)
because ``/etc/sudoers.d/reconciler-rig`` (written by
``scripts/setup-test-host.sh``) names the per-host nginx config paths
``/tmp/reconciler-rig/hNN/nginx.conf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BASE = Path("/tmp/reconciler-rig")
"""Root of every per-host tree (``BASE/hNN``); mode 0755, owned by root."""

REPOS = BASE / "repos"
"""Bare git repositories made by the rig (readable by every host user)."""

ETC = Path("/etc/reconciler-rig")
"""Root-only directory written by setup-test-host.sh (admin password, cnf)."""

ADMIN_CNF = ETC / "admin.cnf"
"""MariaDB client option file of the rig admin, readable by root only."""

AEGIR_CNF = Path("/home/aegir/.my.cnf")
"""The same admin account's option file, readable by aegir only."""

SUDOERS = Path("/etc/sudoers.d/reconciler-rig")

SSHD = "/usr/sbin/sshd"
NGINX = "/usr/sbin/nginx"
PHP_FPM = "/usr/sbin/php-fpm8.2"

LOOPBACK = "127.0.0.1"
SSH_BASE_PORT = 22200
"""Host ``hNN`` runs sshd on ``SSH_BASE_PORT + NN`` (22201, 22202, 22203)."""

HTTP_BASE_PORT = 18200
"""Host ``hNN`` runs nginx on ``HTTP_BASE_PORT + NN`` (18201, 18202, 18203)."""

DB_HOST = "127.0.0.1"
DB_PORT = 3306

WEB_USER = "www-data"
WEB_GROUP = "www-data"


@dataclass(frozen=True)
class HostSpec:
    """What a test host is before it runs: its number and login user."""

    number: int
    user: str

    @property
    def name(self) -> str:
        return f"h{self.number:02d}"

    @property
    def dir(self) -> Path:
        return BASE / self.name

    @property
    def ssh_port(self) -> int:
        return SSH_BASE_PORT + self.number

    @property
    def http_port(self) -> int:
        return HTTP_BASE_PORT + self.number

    @property
    def admin_cnf(self) -> Path:
        """The MariaDB admin option file as seen by the login user."""
        return ADMIN_CNF if self.user == "root" else AEGIR_CNF


HOST_SPECS: tuple[HostSpec, ...] = (
    HostSpec(1, "aegir"),
    HostSpec(2, "aegir"),
    HostSpec(3, "root"),
)
"""h01 and h02 log in as the unprivileged ``aegir``; h03 logs in as root."""

EXTRA_HOST_SPECS: tuple[HostSpec, ...] = (HostSpec(4, "aegir"),)
"""Hosts the test fixtures never start (the tests' rig is the three above); h04 (aegir) is
started by ``benchmarks/apply_bench.py`` for its fourth server."""


def spec_for(name: str) -> HostSpec:
    """The :class:`HostSpec` called *name* (``h01`` ... ``h04``)."""
    for spec in (*HOST_SPECS, *EXTRA_HOST_SPECS):
        if spec.name == name:
            return spec
    raise KeyError(name)
