"""sshd test hosts: per-host sshd on 127.0.0.1, keys, known_hosts, ``TestHost``.

Backs the session fixture ``rig_hosts`` (see :mod:`rig.fixtures`).

Each host ``hNN`` is a real OpenSSH ``sshd`` on ``127.0.0.1:222NN`` with its
own ed25519 host key, its own client key pair (root-owned, used by the rig
and the tests), a known_hosts file with exactly its host key, and key-only
login for one user: ``aegir`` on h01/h02, ``root`` on h03. Commands run on a
host go through the OpenSSH client (:meth:`TestHost.run`), never through the
project's own transport.

Layout of ``/tmp/reconciler-rig/hNN/`` (directory owned by root, 0755)::

    sshd_config  ssh_host_ed25519_key{,.pub}  sshd.pid
    authorized_keys            (login user, 0600)
    client_ed25519{,.pub}      (root, 0600)
    known_hosts                "[127.0.0.1]:PORT ssh-ed25519 ..."
    gitconfig                  GIT_CONFIG_GLOBAL of SSH sessions (safe.directory)
    platforms/ backups/ vhosts/  (login user, group www-data)

Pitfalls handled: sshd's privilege-separation dir ``/run/sshd`` must exist;
``StrictModes no`` because the keys live under /tmp; ``SetEnv SHLVL=1`` so
bash does not source the login user's ~/.bashrc on every command (root's
runs ``pyenv init`` on this machine, ~150 ms).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import grp
import os
import pwd
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rig import layout, procs


class RigCommandError(AssertionError):
    """A command run with ``check=True`` exited non-zero."""


@dataclass(frozen=True)
class Result:
    """Outcome of one command: exit code and raw output."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def check(self) -> Result:
        if self.returncode != 0:
            raise RigCommandError(
                f"exit {self.returncode}: {shlex.join(self.argv)}\n"
                f"stdout: {self.out[-2000:]}\nstderr: {self.err[-2000:]}"
            )
        return self


def run_local(
    argv: list[str], input: bytes | None = None, check: bool = True, timeout: float = 60
) -> Result:
    """Run *argv* on this machine (as the test process user, root)."""
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)
    result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
    return result.check() if check else result


@dataclass(frozen=True)
class TestHost:
    """One sshd test host, as a test (or the reconciler) sees it."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    name: str
    host: str
    port: int
    user: str
    identity_file: Path
    known_hosts: Path
    dir: Path
    platforms: Path
    backups: Path
    vhost_dir: Path
    http_port: int
    php_fpm_socket: Path
    nginx_conf: Path
    nginx_test_cmd: str
    nginx_reload_cmd: str
    admin_defaults_file: Path

    def ssh_argv(self, argv: list[str], *, identity: Path | None = None) -> list[str]:
        """The OpenSSH client command line that runs *argv* on this host."""
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(identity or self.identity_file),
            "-p",
            str(self.port),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
            # ~65 ms faster per connection than the default post-quantum kex
            "-o",
            "KexAlgorithms=curve25519-sha256",
            "-T",
            f"{self.user}@{self.host}",
            "--",
            shlex.join(argv),
        ]

    def run(
        self,
        argv: list[str],
        input: bytes | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> Result:
        """Run *argv* on the host through ``ssh``; exit code, stdout, stderr."""
        ssh = self.ssh_argv(argv)
        proc = subprocess.run(
            ssh,
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        return result.check() if check else result

    def write_file(self, path: Path | str, data: bytes, mode: int = 0o644) -> None:
        """Write *data* to *path* on the host as the login user."""
        script = 'umask 022 && cat > "$1" && chmod "$2" "$1"'
        self.run(["sh", "-c", script, "sh", str(path), f"{mode:o}"], input=data)

    def nginx_test(self, check: bool = True) -> Result:
        return self.run(shlex.split(self.nginx_test_cmd), check=check)

    def nginx_reload(self, check: bool = True) -> Result:
        """Reload this host's nginx as the login user (sudo for aegir)."""
        return self.run(shlex.split(self.nginx_reload_cmd), check=check)

    def scoped(self, tag: str) -> TestHost:
        """A view of this host whose platforms/backups/vhosts are ``.../<tag>``."""
        return dataclasses.replace(
            self,
            platforms=self.platforms / tag,
            backups=self.backups / tag,
            vhost_dir=self.vhost_dir / tag,
        )


def _sshd_config(spec: layout.HostSpec) -> str:
    d = spec.dir
    root_login = "prohibit-password" if spec.user == "root" else "no"
    return f"""\
# reconciler rig test host {spec.name} (generated by tests/rig/hosts.py)
Port {spec.ssh_port}
ListenAddress {layout.LOOPBACK}
AddressFamily inet
HostKey {d}/ssh_host_ed25519_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
AllowUsers {spec.user}
PermitRootLogin {root_login}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
# keys live under /tmp (mode 1777), which StrictModes would reject
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
PermitUserEnvironment no
LogLevel ERROR
# parallel tests: many concurrent handshakes and multiplexed sessions
MaxStartups 1000:30:2000
MaxSessions 1000
MaxAuthTries 6
LoginGraceTime 30
# SHLVL=1: bash skips ~/.bashrc for ssh commands; GIT_CONFIG_GLOBAL: the
# rig's own git config (safe.directory for the rig's repositories)
SetEnv SHLVL=1 GIT_CONFIG_GLOBAL={d}/gitconfig
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def _ensure_key(path: Path, comment: str) -> None:
    if not path.exists():
        run_local(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _write(path: Path, text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    """Write atomically (only when changed), then set owner and mode."""
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _mkdir(path: Path, mode: int, uid: int, gid: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def make_host(spec: layout.HostSpec) -> TestHost:
    """The :class:`TestHost` for *spec* (pure: starts nothing)."""
    d = spec.dir
    conf = d / "nginx.conf"
    sudo = "" if spec.user == "root" else "sudo -n "
    return TestHost(
        name=spec.name,
        host=layout.LOOPBACK,
        port=spec.ssh_port,
        user=spec.user,
        identity_file=d / "client_ed25519",
        known_hosts=d / "known_hosts",
        dir=d,
        platforms=d / "platforms",
        backups=d / "backups",
        vhost_dir=d / "vhosts",
        http_port=spec.http_port,
        php_fpm_socket=d / "php-fpm.sock",
        nginx_conf=conf,
        nginx_test_cmd=f"{sudo}{layout.NGINX} -t -c {conf}",
        nginx_reload_cmd=f"{sudo}{layout.NGINX} -s reload -c {conf}",
        admin_defaults_file=spec.admin_cnf,
    )


def prepare_host_tree(spec: layout.HostSpec) -> None:
    """Create keys, configs and the host's directories (idempotent)."""
    pw = pwd.getpwnam(spec.user)
    web_gid = grp.getgrnam(layout.WEB_GROUP).gr_gid
    d = spec.dir
    _mkdir(layout.BASE, 0o755, 0, 0)
    _mkdir(d, 0o755, 0, 0)
    _ensure_key(d / "ssh_host_ed25519_key", f"rig-{spec.name}-host")
    _ensure_key(d / "client_ed25519", f"rig-{spec.name}-client")
    pub = (d / "client_ed25519.pub").read_text()
    _write(d / "authorized_keys", pub, 0o600, pw.pw_uid, pw.pw_gid)
    host_pub = (d / "ssh_host_ed25519_key.pub").read_text().split()
    known = f"[{layout.LOOPBACK}]:{spec.ssh_port} {host_pub[0]} {host_pub[1]}\n"
    _write(d / "known_hosts", known, 0o644)
    _write(d / "sshd_config", _sshd_config(spec), 0o644)
    if not (d / "gitconfig").exists():
        _write(d / "gitconfig", "[user]\n\tname = Rig\n\temail = rig@localhost\n", 0o644)
    _mkdir(d / "platforms", 0o2775, pw.pw_uid, web_gid)
    _mkdir(d / "backups", 0o2770, pw.pw_uid, web_gid)
    _mkdir(d / "vhosts", 0o2775, pw.pw_uid, web_gid)


@contextlib.contextmanager
def held_exclusively(spec: layout.HostSpec) -> Iterator[None]:
    """Hold host *spec* for this process alone (an exclusive ``flock`` on ``BASE/.hNN.lock``).

    For the extra host, whose daemons a test or benchmark starts and stops itself: two pytest
    sessions or a benchmark sharing the rig would otherwise start its sshd while another test
    keeps it stopped on purpose. Waits while someone else holds it.
    """
    with procs.flocked(layout.BASE / f".{spec.name}.lock", fcntl.LOCK_EX):
        yield


def sshd_pid(spec: layout.HostSpec) -> int | None:
    return procs.daemon_pid(spec.dir / "sshd.pid", spec.dir / "sshd_config")


def start_sshd(spec: layout.HostSpec) -> None:
    """Start the host's sshd unless our sshd for it is already running."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    if sshd_pid(spec) is not None and procs.port_open(layout.LOOPBACK, spec.ssh_port):
        return
    if procs.port_open(layout.LOOPBACK, spec.ssh_port):
        raise RuntimeError(f"rig: port {spec.ssh_port} is taken by something else")
    run_local([layout.SSHD, "-f", str(spec.dir / "sshd_config")])


def wait_sshd(spec: layout.HostSpec) -> None:
    procs.wait_for(
        f"sshd of {spec.name} on port {spec.ssh_port}",
        lambda: sshd_pid(spec) is not None and procs.port_open(layout.LOOPBACK, spec.ssh_port),
    )


def stop_sshd(spec: layout.HostSpec) -> None:
    procs.stop_daemon(spec.dir / "sshd.pid", spec.dir / "sshd_config")


def trust_repo(path: Path) -> None:
    """Let every host's login user use the git repository at *path*.

    The rig's repositories are owned by root; git refuses repositories owned
    by another user unless they are listed in ``safe.directory``. The SSH
    sessions read the rig's per-host gitconfig (``GIT_CONFIG_GLOBAL``).
    """
    for spec in layout.HOST_SPECS:
        cfg = spec.dir / "gitconfig"
        listed = run_local(
            ["git", "config", "--file", str(cfg), "--get-all", "safe.directory"], check=False
        ).out.split()
        if str(path) not in listed:
            run_local(["git", "config", "--file", str(cfg), "--add", "safe.directory", str(path)])


def untrust_repo(path: Path) -> None:
    """Undo :func:`trust_repo` (the repository is being removed)."""
    for spec in layout.HOST_SPECS:
        cfg = spec.dir / "gitconfig"
        run_local(
            [
                "git",
                "config",
                "--file",
                str(cfg),
                "--fixed-value",
                "--unset-all",
                "safe.directory",
                str(path),
            ],
            check=False,
        )
