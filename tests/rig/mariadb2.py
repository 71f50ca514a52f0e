"""A second MariaDB server for the rig: the database server a site moves to.

Backs the session fixture ``mariadb2_admin`` (registered from tests/conftest.py) ->
:class:`rig.mariadb.MariaDBAdmin` of the second server.

The rig's first MariaDB (127.0.0.1:3306) is the machine's own, set up by
``scripts/setup-test-host.sh``. This one is started by the fixture itself, from
Debian's ``mariadbd``, as user ``mysql``, on ``127.0.0.1:3307``, with everything
under :data:`DIR` (``/tmp/reconciler-rig/mariadb2``)::

    my.cnf       server options (read with --defaults-file; no /etc/mysql file)
    data/        the datadir, made once by mariadb-install-db (mysql, 0700)
    run/         socket, pid file and error log (mysql, 0755)
    admin.password  the admin account's password (root, 0600)

Starting is idempotent: a running server of ours (its pid file names our
my.cnf) is reused, a datadir is initialised only when it has no ``mysql/``
schema yet. The admin account ``rig_admin`` (ALL PRIVILEGES WITH GRANT OPTION,
for 127.0.0.1 and localhost) is set up through the socket as MariaDB's root
(unix_socket authentication for the OS root), and its client option files are
written like the first server's: :data:`ROOT_CNF` (root only) and
:data:`AEGIR_CNF` (``/home/aegir/.my2.cnf``, aegir only). Several pytest
sessions may share the server; the last one to leave stops it.
"""

from __future__ import annotations

import os
import pwd
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig import layout, procs
from rig.hosts import RigCommandError, TestHost, run_local
from rig.mariadb import MariaDBAdmin

DIR = layout.BASE / "mariadb2"
CNF = DIR / "my.cnf"
DATA = DIR / "data"
RUN = DIR / "run"
SOCKET = RUN / "mariadbd.sock"
PIDFILE = RUN / "mariadbd.pid"
ERROR_LOG = RUN / "error.log"
PASSWORD = DIR / "admin.password"

HOST = "127.0.0.1"
PORT = 3307
ADMIN_USER = "rig_admin"

ROOT_CNF = layout.ETC / "admin2.cnf"
"""Option file of the second server's admin account, readable by root only."""

AEGIR_CNF = Path("/home/aegir/.my2.cnf")
"""The same account's option file, readable by aegir only."""

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"


def admin_cnf(host: TestHost) -> Path:
    """The second server's admin option file as seen by *host*'s login user."""
    return ROOT_CNF if host.user == "root" else AEGIR_CNF


def server_options() -> str:
    return f"""\
# the reconciler rig's second MariaDB server (written by tests/rig/mariadb2.py)
[mysqld]
user = mysql
datadir = {DATA}
socket = {SOCKET}
pid-file = {PIDFILE}
log-error = {ERROR_LOG}
port = {PORT}
bind-address = {HOST}
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_buffer_pool_size = 32M
"""


def _mkdir(path: Path, mode: int, user: str) -> None:
    pw = pwd.getpwnam(user)
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)


def _write(path: Path, text: str, mode: int, user: str) -> None:
    """Write atomically, owned by *user* with *mode* from the start."""
    pw = pwd.getpwnam(user)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    tmp.chmod(mode)
    os.replace(tmp, path)


def pid() -> int | None:
    return procs.daemon_pid(PIDFILE, CNF)


def _root_sql(sql: str) -> str:
    """*sql* run as MariaDB's root through the socket (unix_socket authentication)."""
    argv = ["mysql", "--no-defaults", f"--socket={SOCKET}", "-u", "root", "--batch"]
    return run_local([*argv, "--skip-column-names"], input=sql.encode()).out


def _answers() -> bool:
    if pid() is None or not procs.port_open(HOST, PORT):
        return False
    try:
        return _root_sql("SELECT 1").strip() == "1"
    except RigCommandError:
        return False


def _initialise() -> None:
    if (DATA / "mysql").is_dir():
        return
    _mkdir(DATA, 0o700, "mysql")
    run_local(
        [
            INSTALL_DB,
            f"--defaults-file={CNF}",
            "--user=mysql",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        timeout=120,
    )


def _admin_account() -> None:
    if not PASSWORD.exists():
        _write(PASSWORD, secrets.token_hex(16), 0o600, "root")
    password = PASSWORD.read_text().strip()
    _root_sql(
        "".join(
            f"CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'{h}' IDENTIFIED BY '{password}';\n"
            f"ALTER USER '{ADMIN_USER}'@'{h}' IDENTIFIED BY '{password}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{h}' WITH GRANT OPTION;\n"
            for h in ("127.0.0.1", "localhost")
        )
    )
    cnf = (
        "# the reconciler rig's second MariaDB server: its admin (tests/rig/mariadb2.py)\n"
        f"[client]\nuser={ADMIN_USER}\npassword={password}\nhost={HOST}\nport={PORT}\n"
    )
    layout.ETC.mkdir(mode=0o700, exist_ok=True)
    _write(ROOT_CNF, cnf, 0o600, "root")
    _write(AEGIR_CNF, cnf, 0o600, "aegir")


def start() -> MariaDBAdmin:
    """Start the second server unless ours already runs; its admin (idempotent)."""
    _mkdir(DIR, 0o755, "root")
    _mkdir(RUN, 0o755, "mysql")
    if not CNF.exists() or CNF.read_text() != server_options():
        _write(CNF, server_options(), 0o644, "root")
    if pid() is None:
        if procs.port_open(HOST, PORT):
            raise RuntimeError(f"rig: port {PORT} is taken by something else")
        _initialise()
        run_local(
            [
                "start-stop-daemon",
                "--start",
                "--background",
                "--chuid",
                "mysql",
                "--pidfile",
                str(PIDFILE),
                "--exec",
                MARIADBD,
                "--",
                f"--defaults-file={CNF}",
            ]
        )
    try:
        procs.wait_for(f"the second MariaDB on {HOST}:{PORT}", _answers, timeout=60)
    except TimeoutError as exc:
        log = ERROR_LOG.read_text()[-2000:] if ERROR_LOG.exists() else "(no error log)"
        raise RuntimeError(f"{exc}; its error log ends:\n{log}") from exc
    _admin_account()
    return MariaDBAdmin(HOST, PORT, ADMIN_USER, ROOT_CNF)


def stop() -> None:
    procs.stop_daemon(PIDFILE, CNF)


@pytest.fixture(scope="session")
def mariadb2_admin() -> Iterator[MariaDBAdmin]:
    """The second MariaDB server (127.0.0.1:3307) and its admin; stopped at the end of the
    last session using it."""
    if os.geteuid() != 0:
        pytest.fail("the rig's second MariaDB must be started as root")
    layout.BASE.mkdir(mode=0o755, exist_ok=True)
    DIR.mkdir(mode=0o755, exist_ok=True)
    lease = procs.SessionLease(DIR)
    with lease.starting():
        admin = start()
    try:
        admin.run_sql("SELECT 1")
        yield admin
    finally:
        try:
            if lease.leave():
                stop()
        finally:
            lease.done()
