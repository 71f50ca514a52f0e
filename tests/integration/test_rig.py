"""The rig is what it claims: real sshd/nginx/php-fpm/MariaDB/git, as specified."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rig import fixtures, gitrepos, hosts, layout, mariadb, web
from rig.hosts import TestHost
from rig.mariadb import FreshDatabase, MariaDBAdmin
from rig.web import http_get

pytestmark = pytest.mark.integration


def _ssh(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=30, check=False, input=b"")


def _replace_opt(argv: list[str], key: str, value: str) -> list[str]:
    """Replace ``-o KEY=...`` in an ssh command line."""
    out = list(argv)
    for i, a in enumerate(out):
        if a.startswith(f"{key}="):
            out[i] = f"{key}={value}"
            return out
    raise AssertionError(f"{key} not in {argv}")


# --- SSH -------------------------------------------------------------------


def test_three_hosts_on_their_ports(rig_hosts: list[TestHost]) -> None:
    assert [(h.name, h.port, h.user, h.http_port) for h in rig_hosts] == [
        ("h01", 22201, "aegir", 18201),
        ("h02", 22202, "aegir", 18202),
        ("h03", 22203, "root", 18203),
    ]
    for h in rig_hosts:
        kh = h.known_hosts.read_text().split()
        assert kh[0] == f"[127.0.0.1]:{h.port}"
        assert kh[1] == "ssh-ed25519"
    host_keys = {h.known_hosts.read_text().split()[2] for h in rig_hosts}
    assert len(host_keys) == 3, "each host has its own host key"


def test_key_login_as_the_host_user(rig_hosts: list[TestHost]) -> None:
    for h in rig_hosts:
        r = h.run(["id", "-un"])
        assert r.out.strip() == h.user
        assert r.returncode == 0


def test_run_quotes_argv_and_passes_stdin_and_exit_code(rig_hosts: list[TestHost]) -> None:
    h = rig_hosts[0]
    r = h.run(["printf", "%s|", "a b", "$HOME", "it's"])
    assert r.out == "a b|$HOME|it's|"
    r = h.run(["sh", "-c", "cat; echo err >&2; exit 7"], input=b"payload", check=False)
    assert (r.returncode, r.out, r.err) == (7, "payload", "err\n")
    with pytest.raises(hosts.RigCommandError):
        h.run(["false"])


def test_unknown_key_is_refused(rig_hosts: list[TestHost], tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    hosts.run_local(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    for h in rig_hosts:
        p = _ssh(h.ssh_argv(["true"], identity=key))
        assert p.returncode == 255
        assert b"Permission denied (publickey)" in p.stderr
    # another host's client key does not open h01 either
    p = _ssh(rig_hosts[0].ssh_argv(["true"], identity=rig_hosts[1].identity_file))
    assert p.returncode == 255


def test_password_login_is_not_offered(rig_hosts: list[TestHost]) -> None:
    for h in rig_hosts:
        argv = h.ssh_argv(["true"])
        argv[1:1] = [
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ]
        p = _ssh(argv)
        assert p.returncode == 255
        # the server lists only publickey among the methods it accepts
        assert b"Permission denied (publickey)." in p.stderr, p.stderr


def test_root_cannot_log_in_to_aegir_hosts(rig_hosts: list[TestHost]) -> None:
    h01 = rig_hosts[0]
    argv = [a.replace("aegir@", "root@") for a in h01.ssh_argv(["true"])]
    p = _ssh(argv)
    assert p.returncode == 255
    assert b"Permission denied" in p.stderr


def test_wrong_known_hosts_entry_is_refused(rig_hosts: list[TestHost], tmp_path: Path) -> None:
    h01, h02 = rig_hosts[0], rig_hosts[1]
    # h02's host key filed under h01's address
    wrong = tmp_path / "known_hosts"
    key = h02.known_hosts.read_text().split(maxsplit=1)[1]
    wrong.write_text(f"[127.0.0.1]:{h01.port} {key}")
    p = _ssh(_replace_opt(h01.ssh_argv(["true"]), "UserKnownHostsFile", str(wrong)))
    assert p.returncode == 255
    assert b"Host key verification failed" in p.stderr
    # an empty known_hosts: StrictHostKeyChecking=yes never adds a new key
    empty = tmp_path / "empty"
    empty.write_text("")
    p = _ssh(_replace_opt(h01.ssh_argv(["true"]), "UserKnownHostsFile", str(empty)))
    assert p.returncode == 255
    assert empty.read_text() == ""


def test_many_parallel_commands(rig_hosts: list[TestHost]) -> None:
    h = rig_hosts[0]
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda i: h.run(["echo", str(i)]).out, range(48)))
    assert results == [f"{i}\n" for i in range(48)]


def test_sessions_skip_slow_rc_files(rig_hosts: list[TestHost]) -> None:
    for h in rig_hosts:
        r = h.run(["sh", "-c", 'echo "$SHLVL $GIT_CONFIG_GLOBAL"'])
        assert r.out.split() == ["1", str(h.dir / "gitconfig")]


def test_hosts_are_reused_not_restarted(rig_hosts: list[TestHost]) -> None:
    before = [(hosts.sshd_pid(s), web.nginx_pid(s), web.php_fpm_pid(s)) for s in layout.HOST_SPECS]
    assert all(None not in pids for pids in before)
    assert fixtures.start_rig() == rig_hosts
    after = [(hosts.sshd_pid(s), web.nginx_pid(s), web.php_fpm_pid(s)) for s in layout.HOST_SPECS]
    assert after == before


# --- users and sudo -------------------------------------------------------


def test_aegir_hosts_user_groups_and_sudo(rig_hosts: list[TestHost]) -> None:
    for h in rig_hosts[:2]:
        assert h.run(["id", "-un"]).out.strip() == "aegir"
        assert "www-data" in h.run(["id", "-nG"]).out.split()
        r = h.run(["sudo", "-n", "true"], check=False)
        assert r.returncode != 0
        assert "password is required" in r.err
        # ... but the rig's nginx test is allowed
        assert h.nginx_test_cmd == f"sudo -n /usr/sbin/nginx -t -c {h.dir}/nginx.conf"
        r = h.nginx_test()
        assert "test is successful" in r.err
        # and only with the rig's configs
        r = h.run(
            ["sudo", "-n", "/usr/sbin/nginx", "-t", "-c", "/etc/nginx/nginx.conf"], check=False
        )
        assert "password is required" in r.err
        r = h.run(
            ["sudo", "-n", "/usr/sbin/nginx", "-s", "stop", "-c", str(h.nginx_conf)], check=False
        )
        assert r.returncode != 0
        assert "password is required" in r.err


def test_root_host(rig_hosts: list[TestHost]) -> None:
    h03 = rig_hosts[2]
    assert h03.run(["id", "-u"]).out.strip() == "0"
    assert h03.nginx_test_cmd == f"/usr/sbin/nginx -t -c {h03.dir}/nginx.conf"
    assert "test is successful" in h03.nginx_test().err


def test_login_user_owns_its_directories(rig_workspace: list[TestHost]) -> None:
    for h in rig_workspace:
        for d in (h.platforms, h.backups, h.vhost_dir):
            f = d / "probe"
            h.run(
                [
                    "sh",
                    "-c",
                    'mkdir "$1/sub" && touch "$1/probe" && chmod 640 "$1/probe"',
                    "sh",
                    str(d),
                ]
            )
            assert oct(f.stat().st_mode & 0o777) == "0o640"
            assert f.owner() == h.user


# --- web ------------------------------------------------------------------


def test_default_server_answers_404(rig_hosts: list[TestHost]) -> None:
    for h in rig_hosts:
        status, headers, _ = http_get("127.0.0.1", h.http_port, "/", "nothing.example")
        assert status == 404
        assert headers["server"].startswith("nginx")


@pytest.mark.parametrize("index", [0, 2], ids=["h01-aegir", "h03-root"])
def test_php_vhost_served_after_reload(rig_workspace: list[TestHost], index: int) -> None:
    h = rig_workspace[index]
    site = h.platforms / "site"
    server_name = f"{h.platforms.name}.{h.name}.test".lower().replace("_", "-")
    marker = f"rig-marker-{h.name}-{h.platforms.name}"
    h.run(["mkdir", "-p", str(site)])
    h.write_file(
        site / "index.php",
        f"<?php echo '{marker} ' . posix_getpwuid(posix_geteuid())['name'];\n".encode(),
    )
    h.write_file(h.vhost_dir / "site.conf", web.php_vhost(h, server_name, site).encode())
    # written but not yet loaded
    assert http_get("127.0.0.1", h.http_port, "/", server_name).status == 404
    h.nginx_test()
    web.reload_nginx(layout.spec_for(h.name), via=h)
    status, _, body = http_get("127.0.0.1", h.http_port, "/", server_name)
    assert status == 200, body
    assert body.decode() == f"{marker} www-data"
    # another Host header still gets the default 404
    assert http_get("127.0.0.1", h.http_port, "/", "other.example").status == 404
    # and other hosts' nginx does not serve it
    other = rig_workspace[1]
    assert http_get("127.0.0.1", other.http_port, "/", server_name).status == 404


def test_workspace_is_per_test_and_removed_afterwards(rig_hosts: list[TestHost]) -> None:
    with fixtures.workspace(rig_hosts, "ws-" + secrets.token_hex(3)) as scoped:
        for h, base in zip(scoped, layout.HOST_SPECS, strict=True):
            assert h.platforms.parent == base.dir / "platforms"
            assert h.vhost_dir.parent == base.dir / "vhosts"
            assert h.platforms.is_dir()
            h.write_file(h.vhost_dir / "x.conf", b"# nothing\n")
    for h in scoped:
        for d in (h.platforms, h.backups, h.vhost_dir):
            assert not d.exists()


# --- MariaDB --------------------------------------------------------------


def test_admin_defaults_files(rig_hosts: list[TestHost], mariadb_admin: MariaDBAdmin) -> None:
    assert mariadb_admin.query("SELECT CURRENT_USER()") == [["rig_admin@127.0.0.1"]]
    assert oct(layout.ADMIN_CNF.stat().st_mode & 0o777) == "0o600"
    for h in rig_hosts:
        r = h.run(
            ["mysql", f"--defaults-file={h.admin_defaults_file}", "-NBe", "SELECT CURRENT_USER()"]
        )
        assert r.out.strip() == "rig_admin@127.0.0.1"
    # aegir's copy is aegir's alone
    assert layout.AEGIR_CNF.owner() == "aegir"
    assert oct(layout.AEGIR_CNF.stat().st_mode & 0o777) == "0o600"
    r = rig_hosts[0].run(["cat", str(layout.ADMIN_CNF)], check=False)
    assert r.returncode != 0


def test_fresh_db_is_usable_and_private(
    fresh_db: object, mariadb_admin: MariaDBAdmin, rig_workspace: list[TestHost]
) -> None:
    assert callable(fresh_db)
    a: FreshDatabase = fresh_db()
    b: FreshDatabase = fresh_db()
    assert a.name != b.name
    assert a.name.startswith("rt_")
    assert {a.name, b.name} <= mariadb_admin.databases()
    a.run_sql("CREATE TABLE t (v VARCHAR(20)); INSERT INTO t VALUES ('secret-a');")
    assert a.query("SELECT v FROM t") == [["secret-a"]]
    # b's user can neither read nor see a's database
    r = b.run_sql(f"SELECT v FROM `{a.name}`.t", check=False)
    assert r.returncode != 0
    assert "denied" in r.err
    assert a.name not in {row[0] for row in b.query("SHOW DATABASES")}
    # a's user works from a host too (aegir, through ssh, mysql client)
    h = rig_workspace[0]
    cnf = h.backups / "a.cnf"
    h.write_file(cnf, a.client_cnf().encode(), mode=0o600)
    r = h.run(["mysql", f"--defaults-file={cnf}", "-NB", a.name, "-e", "SELECT v FROM t"])
    assert r.out == "secret-a\n"


def test_fresh_database_is_dropped_even_on_failure(mariadb_admin: MariaDBAdmin) -> None:
    seen: list[FreshDatabase] = []

    def use_then_fail() -> None:
        with mariadb.fresh_database(mariadb_admin) as db:
            seen.append(db)
            assert db.name in mariadb_admin.databases()
            assert mariadb_admin.users(db.user) == {"127.0.0.1", "localhost"}
            assert db.defaults_file.exists()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        use_then_fail()
    [db] = seen
    assert db.name not in mariadb_admin.databases()
    assert mariadb_admin.users(db.user) == set()
    assert not db.defaults_file.exists()


def test_fresh_db_factory_drops_what_it_made(mariadb_admin: MariaDBAdmin) -> None:
    with fixtures.fresh_databases(mariadb_admin) as make:
        made = [make(), make()]
        assert {db.name for db in made} <= mariadb_admin.databases()
    for db in made:
        assert db.name not in mariadb_admin.databases()
        assert mariadb_admin.users(db.name) == set()
        assert mariadb_admin.users(db.user) == set()


# --- git ------------------------------------------------------------------


def test_bare_repo_clones_as_aegir_and_root(
    rig_workspace: list[TestHost], rig_repo_dir: Path
) -> None:
    repo = gitrepos.make_bare_repo(rig_repo_dir / "p.git", {"index.php": "<?php\n"}, tag="1.0")
    for h in (rig_workspace[0], rig_workspace[2]):
        dest = h.platforms / "clone"
        h.run(["git", "clone", "-q", str(repo), str(dest)])
        assert h.run(["git", "-C", str(dest), "tag"]).out.split() == ["1.0"]
        assert dest.owner() == h.user


def test_standin_repo_clones_on_a_host(standin_repo: Path, rig_workspace: list[TestHost]) -> None:
    assert set(gitrepos.STANDIN_TAGS) <= gitrepos.tags(standin_repo)
    h = rig_workspace[0]
    dest = h.platforms / "standin"
    h.run(["git", "clone", "-q", str(standin_repo), str(dest)])
    assert set(gitrepos.STANDIN_TAGS) <= set(h.run(["git", "-C", str(dest), "tag"]).out.split())


def test_tools_present() -> None:
    for tool in ("ssh", "sshd", "nginx", "php-fpm8.2", "mysql", "git", "sudo"):
        assert shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"), tool
