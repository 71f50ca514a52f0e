"""The transports without the rig: quoting, LocalTransport, error classes, retries, host keys.

SSH behaviour that needs no real sshd is tested against an in-process asyncssh server on
127.0.0.1 (host key refusal, authentication refusal, nothing run on an unverified server); the
real-sshd tests are in tests/integration/test_transport.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

import reconciler.transport.ssh_trust as ssh_module
from reconciler.errors import PermanentError, TransientError
from reconciler.manifests.models import Server
from reconciler.transport import (
    AuthenticationError,
    CommandFailed,
    CommandTimeout,
    ConnectError,
    HostKeyError,
    LocalTransport,
    RetryPolicy,
    SshTransport,
    Transports,
    classify_connect_error,
    quote_argv,
    transport_for,
)

T = TypeVar("T")

HOSTILE = [
    "$(id)",
    "`id`",
    "a; touch /tmp/pwned-by-quoting",
    "it's",
    '"double" quotes',
    "new\nline",
    "  spaces  around  ",
    "",
    "-n",
    "--",
    "*",
    "~",
    "$HOME",
    "back\\slash",
    "tab\there",
    "| cat",
    "&& false",
    "> /tmp/x",
    "ünïcödé ✓",
    "'",
    "''",
    "\\'",
]

FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.05)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def server_manifest(**spec: Any) -> Server:
    return Server.model_validate(
        {
            "apiVersion": "reconciler/v1",
            "kind": "Server",
            "metadata": {"name": "web1"},
            "spec": spec,
        }
    )


# ---------------------------------------------------------------- quoting


def test_quote_argv_round_trips_hostile_arguments_through_sh() -> None:
    local = LocalTransport("here")
    line = quote_argv(["printf", "%s\\0", *HOSTILE])
    r = run(local.run(["sh", "-c", line]))
    assert r.exit_status == 0, r.err
    assert r.stdout.split(b"\0")[:-1] == [a.encode() for a in HOSTILE]
    assert not Path("/tmp/pwned-by-quoting").exists()


def test_quote_argv_round_trips_through_bash_and_nested_sh() -> None:
    local = LocalTransport("here")
    inner = quote_argv(["printf", "%s\\0", *HOSTILE])
    r = run(local.run(["bash", "-c", quote_argv(["sh", "-c", inner])]))
    assert r.stdout.split(b"\0")[:-1] == [a.encode() for a in HOSTILE]


def test_quote_argv_refuses_an_empty_command() -> None:
    with pytest.raises(ValueError, match="empty"):
        quote_argv([])
    with pytest.raises(ValueError, match="empty"):
        run(LocalTransport().run([]))


# ---------------------------------------------------------------- LocalTransport


def test_local_runs_argv_without_a_shell() -> None:
    r = run(LocalTransport("here").run(["printf", "%s|", *HOSTILE]))
    assert r.stdout == "".join(f"{a}|" for a in HOSTILE).encode()
    assert r.server == "here"
    assert r.argv == ("printf", "%s|", *HOSTILE)


def test_local_input_exit_status_and_check() -> None:
    local = LocalTransport()
    r = run(local.run(["sh", "-c", "cat; echo oops >&2; exit 3"], input=b"in\x00put"))
    assert (r.exit_status, r.stdout, r.stderr, r.ok) == (3, b"in\x00put", b"oops\n", False)
    with pytest.raises(CommandFailed, match=r"exited 3: oops") as info:
        run(local.run(["sh", "-c", "echo oops >&2; exit 3"], check=True))
    assert isinstance(info.value, PermanentError)
    assert info.value.result.exit_status == 3


def test_local_runs_in_the_home_directory_with_stdin_closed() -> None:
    r = run(LocalTransport().run(["sh", "-c", "pwd; cat"]))
    assert r.out == f"{Path.home()}\n"


def test_local_missing_command_is_127_like_a_shell() -> None:
    local = LocalTransport()
    r = run(local.run(["no-such-command-xyz", "a"]))
    assert r.exit_status == 127
    assert "command not found" in r.err
    with pytest.raises(CommandFailed):
        run(local.run(["no-such-command-xyz"], check=True))


def test_local_timeout_kills_the_whole_process_group() -> None:
    local = LocalTransport()

    async def scenario() -> tuple[float, int]:
        # a background grandchild that would outlive a plain kill of the shell
        proc = await local.stream(["sh", "-c", "sleep 60 & echo $!; wait"])
        pid = int((await proc.read(100)).decode())
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as info:
            await proc.wait(timeout=0.3)
        assert isinstance(info.value, TransientError)
        return time.monotonic() - started, pid

    elapsed, pid = run(scenario())
    assert elapsed < 5
    _assert_gone(pid)

    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"here: no exit after 0.2 s.*running sleep 30"):
        run(LocalTransport("here").run(["sleep", "30"], timeout=0.2))
    assert time.monotonic() - started < 5


def _assert_gone(pid: int) -> None:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs")


def test_local_stream_moves_data_both_ways_without_buffering_it_all() -> None:
    size = 8 << 20

    async def scenario() -> tuple[str, str, int, bytes]:
        local = LocalTransport()
        proc = await local.stream(["sh", "-c", "cat; echo done >&2"])
        sent = hashlib.sha256()

        async def writer() -> None:
            block = os.urandom(1 << 16)
            for _ in range(size // len(block)):
                sent.update(block)
                await proc.write(block)
            await proc.close_stdin()

        received = hashlib.sha256()
        count = 0
        task = asyncio.create_task(writer())
        while chunk := await proc.read(1 << 16):
            received.update(chunk)
            count += len(chunk)
        await task
        result = await proc.wait(timeout=10)
        await local.close()
        return sent.hexdigest(), received.hexdigest(), count, result.stderr

    sent, received, count, stderr = run(scenario())
    assert (received, count, stderr) == (sent, size, b"done\n")


def test_local_stream_of_a_missing_command() -> None:
    async def scenario() -> int:
        proc = await LocalTransport().stream(["no-such-command-xyz"])
        assert await proc.read() == b""
        return (await proc.wait()).exit_status

    assert run(scenario()) == 127


def test_local_close_kills_open_streams() -> None:
    async def scenario() -> int:
        local = LocalTransport()
        proc = await local.stream(["sh", "-c", "echo $$; exec sleep 60"])
        pid = int((await proc.read(100)).decode())
        await local.close()
        return pid

    _assert_gone(run(scenario()))


# ---------------------------------------------------------------- error classes


@pytest.mark.parametrize(
    ("exc", "kind", "reason"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "transient", "connection refused"),
        (ConnectionResetError(104, "reset"), "transient", "connection reset"),
        (OSError(113, "No route to host"), "transient", "No route to host"),
        (socket.gaierror(-2, "Name or service not known"), "transient", "cannot resolve"),
        (TimeoutError(), "transient", "timed out"),
        (asyncssh.ConnectionLost("gone"), "transient", "connection lost"),
        (asyncssh.HostKeyNotVerifiable("bad"), "host_key", "host key"),
        (asyncssh.PermissionDenied("no"), "auth", "permission denied"),
        (asyncssh.KeyImportError("passphrase"), "auth", "cannot be loaded"),
        (asyncssh.KeyExchangeFailed("no kex"), "negotiation", "no kex"),
        (asyncssh.ProtocolNotSupported("v1"), "negotiation", "v1"),
    ],
)
def test_classify_connect_error(exc: BaseException, kind: str, reason: str) -> None:
    got_kind, got_reason = classify_connect_error(exc)
    assert got_kind == kind
    assert reason in got_reason


def test_error_types_are_transient_or_permanent() -> None:
    assert issubclass(ConnectError, TransientError)
    assert issubclass(CommandTimeout, TransientError)
    assert issubclass(HostKeyError, PermanentError)
    assert issubclass(AuthenticationError, PermanentError)


def test_retry_policy_validates() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
    assert RetryPolicy() == RetryPolicy(attempts=4, initial=0.2, maximum=5.0)


# ---------------------------------------------------------------- retries, refused port


def test_refused_port_is_retried_then_reported_as_connect_error() -> None:
    port = free_port()
    t = SshTransport("web1", "127.0.0.1", port, "aegir", retry=FAST, client_key=None)

    async def scenario() -> ConnectError:
        try:
            with pytest.raises(ConnectError) as info:
                await t.run(["true"])
            return info.value
        finally:
            await t.close()

    started = time.monotonic()
    err = run(scenario())
    elapsed = time.monotonic() - started
    assert t.connect_attempts == 3
    assert t.connections_opened == 0
    assert err.server == "web1"
    assert f"aegir@127.0.0.1:{port}" in str(err)
    assert "connection refused" in str(err)
    assert "3 attempts" in str(err)
    assert elapsed >= 0.01 + 0.02  # the backoff waited between attempts
    assert elapsed < 5


def test_default_retry_policy_is_four_attempts() -> None:
    t = SshTransport(
        "web1",
        "127.0.0.1",
        free_port(),
        retry=RetryPolicy(attempts=4, initial=0.0),
    )
    with pytest.raises(ConnectError, match="4 attempts"):
        run(t.run(["true"]))
    assert t.connect_attempts == 4


def test_unresolvable_host_is_transient() -> None:
    t = SshTransport("web1", "no-such-host.invalid", 22, retry=RetryPolicy(2, 0.0))
    with pytest.raises(ConnectError, match="cannot resolve"):
        run(t.run(["true"]))
    assert t.connect_attempts == 2


def test_a_missing_client_key_file_is_permanent(tmp_path: Path) -> None:
    t = SshTransport("web1", "127.0.0.1", free_port(), client_key=tmp_path / "nope", retry=FAST)
    with pytest.raises(AuthenticationError, match="cannot be used"):
        run(t.run(["true"]))
    assert t.connect_attempts == 0


def test_a_garbage_pinned_key_is_refused_at_construction() -> None:
    with pytest.raises(HostKeyError, match="not a public key"):
        SshTransport("web1", "h", host_keys=["ssh-ed25519 not-base64!"])


# ---------------------------------------------------------------- an in-process SSH server


class FakeSshd:
    """An asyncssh server on 127.0.0.1 that records every command it is asked to run."""

    def __init__(self, tmp: Path) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_file = tmp / "client"
        self.client_key.write_private_key(str(self.client_key_file))
        self.commands: list[str] = []
        self.port = 0
        self.authorized = self.client_key

    @property
    def pin(self) -> str:
        return " ".join(self.host_key.export_public_key().decode().split()[:2])

    async def _process(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        self.commands.append(command)
        if command.startswith("sleep"):
            await asyncio.sleep(float(command.split()[1]))
        data = await process.stdin.read() if command == "cat" else command
        process.stdout.write(data)
        process.exit(0)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeSshd]:
        authorized = asyncssh.import_authorized_keys(self.authorized.export_public_key().decode())
        server = await asyncssh.create_server(
            asyncssh.SSHServer,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            process_factory=self._process,
        )
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()


@pytest.fixture
def fake(tmp_path: Path) -> FakeSshd:
    return FakeSshd(tmp_path)


async def _with(
    fake: FakeSshd,
    make: Callable[[int], SshTransport],
    body: Callable[[SshTransport], Awaitable[T]],
) -> T:
    async with fake.running():
        t = make(fake.port)
        try:
            return await body(t)
        finally:
            await t.close()


def test_fake_sshd_pinned_key_runs_commands_on_one_connection(fake: FakeSshd) -> None:
    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1",
            "127.0.0.1",
            port,
            "aegir",
            host_keys=[fake.pin],
            client_key=fake.client_key_file,
            retry=FAST,
        )

    async def body(t: SshTransport) -> list[bytes]:
        outs = await asyncio.gather(*(t.run(["echo", str(i)]) for i in range(20)))
        assert (await t.run(["cat"], input=b"stdin\x00data")).stdout == b"stdin\x00data"
        assert (await t.run(["cat"])).stdout == b""  # no input: stdin's end is sent at once
        return [o.stdout for o in outs]

    outs = run(_with(fake, make, body))
    assert outs == [f"echo {i}".encode() for i in range(20)]
    assert len(fake.commands) == 22


def test_fake_sshd_unknown_host_key_is_refused_and_nothing_runs(
    fake: FakeSshd, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1",
            "127.0.0.1",
            port,
            "aegir",
            known_hosts=empty,
            client_key=fake.client_key_file,
            retry=FAST,
        )

    async def body(t: SshTransport) -> HostKeyError:
        with pytest.raises(HostKeyError) as info:
            await t.run(["touch", "/tmp/marker"])
        assert t.connect_attempts == 1  # never retried
        with pytest.raises(HostKeyError):  # and refused again, not remembered as trusted
            await t.run(["touch", "/tmp/marker"])
        return info.value

    err = run(_with(fake, make, body))
    assert fake.commands == []
    fingerprint = fake.host_key.get_fingerprint("sha256")
    assert fingerprint in err.message
    assert "is unknown" in err.message
    assert f'hostKeys: ["{fake.pin}"]' in err.hint
    assert f"[127.0.0.1]:{fake.port} {fake.pin}" in err.hint


def test_fake_sshd_changed_host_key_is_refused(fake: FakeSshd, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()

    def make(port: int) -> SshTransport:
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {other}")
        return SshTransport(
            "web1",
            "127.0.0.1",
            port,
            known_hosts=known,
            client_key=fake.client_key_file,
            retry=FAST,
        )

    async def body(t: SshTransport) -> HostKeyError:
        with pytest.raises(HostKeyError) as info:
            await t.run(["true"])
        return info.value

    err = run(_with(fake, make, body))
    assert "CHANGED" in err.message
    assert fake.host_key.get_fingerprint("sha256") in err.message
    assert fake.commands == []


def test_fake_sshd_refused_client_key_is_permanent(fake: FakeSshd) -> None:
    fake.authorized = asyncssh.generate_private_key("ssh-ed25519")

    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1",
            "127.0.0.1",
            port,
            "aegir",
            host_keys=[fake.pin],
            client_key=fake.client_key_file,
            retry=FAST,
        )

    async def body(t: SshTransport) -> AuthenticationError:
        with pytest.raises(AuthenticationError) as info:
            await t.run(["true"])
        assert t.connect_attempts == 1
        return info.value

    err = run(_with(fake, make, body))
    assert "refused our key" in str(err)
    assert "authorized_keys" in err.hint
    assert fake.commands == []


def test_fake_sshd_command_timeout_keeps_the_connection(fake: FakeSshd) -> None:
    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1", "127.0.0.1", port, host_keys=[fake.pin], client_key=fake.client_key_file
        )

    async def body(t: SshTransport) -> None:
        conn = await t.connection()
        with pytest.raises(CommandTimeout, match=r"no exit after 0\.2 s"):
            await t.run(["sleep", "5"], timeout=0.2)
        assert (await t.run(["echo", "after"])).stdout == b"echo after"
        assert await t.connection() is conn
        assert t.connections_opened == 1

    run(_with(fake, make, body))


def test_dropped_connection_is_reopened(fake: FakeSshd) -> None:
    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1", "127.0.0.1", port, host_keys=[fake.pin], client_key=fake.client_key_file
        )

    async def body(t: SshTransport) -> None:
        assert (await t.run(["one"])).stdout == b"one"
        conn = await t.connection()
        conn.abort()  # as if the network dropped it
        await conn.wait_closed()
        assert (await t.run(["two"])).stdout == b"two"
        assert t.connections_opened == 2

    run(_with(fake, make, body))


def test_connection_dropped_during_a_command_is_a_connect_error(fake: FakeSshd) -> None:
    def make(port: int) -> SshTransport:
        return SshTransport(
            "web1", "127.0.0.1", port, host_keys=[fake.pin], client_key=fake.client_key_file
        )

    async def body(t: SshTransport) -> ConnectError:
        conn = await t.connection()
        task = asyncio.create_task(t.run(["sleep", "5"]))
        await asyncio.sleep(0.2)
        conn.abort()
        with pytest.raises(ConnectError) as info:
            await asyncio.wait_for(task, 5)
        assert (await t.run(["again"])).stdout == b"again"
        return info.value

    err = run(_with(fake, make, body))
    assert "may or may not have run" in err.hint
    assert err.command == "sleep 5"


def test_defaults_are_the_users_ssh_dir_and_no_file_trusts_nothing(
    fake: FakeSshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setattr(ssh_module, "_GLOBAL_KNOWN_HOSTS", tmp_path / "no-global")
    fake.client_key.write_private_key(str(home / ".ssh" / "id_ed25519"))

    def make(port: int) -> SshTransport:
        return SshTransport("web1", "127.0.0.1", port, retry=FAST)

    async def body(t: SshTransport) -> None:
        with pytest.raises(HostKeyError, match=r"~/.ssh/known_hosts does not exist"):
            await t.run(["first"])
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{fake.port} {fake.pin}\n")
        assert (await t.run(["second"])).stdout == b"second"  # with ~/.ssh/id_ed25519

    run(_with(fake, make, body))
    assert fake.commands == ["second"]


# ---------------------------------------------------------------- factories and the pool


def test_transport_for_and_from_server(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    server = server_manifest(host="web1.example.net", port=2222, user="deploy", hostKeys=[key])
    t = transport_for(server, ssh_key=tmp_path / "id", known_hosts=tmp_path / "kh")
    assert isinstance(t, SshTransport)
    assert (t.server, t.host, t.port, t.user) == ("web1", "web1.example.net", 2222, "deploy")
    assert t.address == "deploy@web1.example.net:2222"
    assert t.client_key == tmp_path / "id"
    assert t.known_hosts == tmp_path / "kh"
    local = transport_for(server_manifest(transport="local"), ssh_key=None, known_hosts=None)
    assert isinstance(local, LocalTransport)
    assert local.server == "web1"


def test_transports_pool_makes_one_per_server_and_closes_them_all() -> None:
    servers = [server_manifest(transport="local")]

    async def scenario() -> None:
        async with Transports(servers) as pool:
            assert "web1" in pool
            assert list(pool) == ["web1"]
            t = pool.get("web1")
            assert pool["web1"] is t
            assert (await t.run(["echo", "hi"])).out == "hi\n"
            with pytest.raises(KeyError):
                pool.get("nope")

    run(scenario())
