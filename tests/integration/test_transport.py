"""SshTransport against the rig's real OpenSSH servers (h01/h02 as aegir, h03 as root)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from rig.hosts import TestHost
from unit.test_transport import HOSTILE  # the same table as the unit tests

from reconciler.transport import (
    CommandTimeout,
    ConnectError,
    HostKeyError,
    RetryPolicy,
    SshTransport,
    quote_argv,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")


def transport(h: TestHost, **options: object) -> SshTransport:
    """The transport the reconciler makes for this host with --ssh-key/--known-hosts."""
    opts: dict[str, object] = {"client_key": h.identity_file, "known_hosts": h.known_hosts}
    opts.update(options)
    return SshTransport(h.name, h.host, h.port, h.user, **opts)  # type: ignore[arg-type]


def host_key_line(h: TestHost) -> str:
    return " ".join((h.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])


def fingerprint(h: TestHost) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(h.dir / "ssh_host_ed25519_key.pub")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return out.split()[1]  # "256 SHA256:... comment (ED25519)"


def our_connections(port: int) -> int:
    """Established TCP connections from this process to 127.0.0.1:port (as ss sees them)."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return sum(f"pid={os.getpid()}," in line for line in out.splitlines())


def with_transport(t: SshTransport, body: Callable[[SshTransport], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await body(t)
        finally:
            await t.close()

    return asyncio.run(main())


def test_one_connection_for_many_commands(h01: TestHost) -> None:
    t = transport(h01)

    async def body(t: SshTransport) -> None:
        for i in range(30):
            r = await t.run(["sh", "-c", 'echo "$1 $(id -un)"', "sh", str(i)])
            assert r.out == f"{i} aegir\n"
        conn = await t.connection()
        await t.run(["true"])
        assert await t.connection() is conn
        assert t.connections_opened == 1
        assert t.connect_attempts == 1
        assert our_connections(h01.port) == 1, "the sshd sees one connection from us"

    with_transport(t, body)
    assert our_connections(h01.port) == 0, "close() closed it"


def test_root_host_and_input_and_exit_status(h03: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        assert (await t.run(["id", "-un"])).out == "root\n"
        r = await t.run(["sh", "-c", "cat; echo err >&2; exit 7"], input=b"a\x00b\n")
        assert (r.exit_status, r.stdout, r.stderr) == (7, b"a\x00b\n", b"err\n")
        r = await t.run(["cat"])  # no input: stdin closed at once, no hang
        assert r.stdout == b""

    with_transport(transport(h03), body)


def test_hostile_arguments_echo_back_byte_exact(h01: TestHost, h03: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        r = await t.run(["printf", "%s\\0", *HOSTILE])
        assert r.exit_status == 0, r.err
        assert r.stdout.split(b"\0")[:-1] == [a.encode() for a in HOSTILE]
        # and one more level of shell, as a caller building `sh -c` scripts would
        r = await t.run(["sh", "-c", quote_argv(["printf", "%s\\0", *HOSTILE])])
        assert r.stdout.split(b"\0")[:-1] == [a.encode() for a in HOSTILE]

    for h in (h01, h03):
        with_transport(transport(h), body)
    assert not Path("/tmp/pwned-by-quoting").exists()


def test_pinned_host_key_works_without_any_known_hosts(h02: TestHost, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = transport(h02, host_keys=[host_key_line(h02)], known_hosts=empty)

    async def body(t: SshTransport) -> str:
        return (await t.run(["hostname"])).out

    assert with_transport(t, body)


def _refused(t: SshTransport, marker: Path) -> HostKeyError:
    async def body(t: SshTransport) -> HostKeyError:
        with pytest.raises(HostKeyError) as info:
            await t.run(["touch", str(marker)])
        with pytest.raises(HostKeyError):
            await t.run(["touch", str(marker)])
        assert t.connect_attempts == 2, "one attempt per command: never retried"
        assert t.connections_opened == 0
        return info.value

    return with_transport(t, body)


def test_wrong_pinned_key_is_refused_and_nothing_runs(h01: TestHost, h02: TestHost) -> None:
    marker = h01.platforms / "marker-wrong-pin"
    h01.run(["mkdir", "-p", str(h01.platforms)])
    t = transport(h01, host_keys=[host_key_line(h02)])  # h02's key pinned for h01
    err = _refused(t, marker)
    assert fingerprint(h01) in err.message
    assert "pinned hostKeys" in err.message
    assert fingerprint(h02) in err.message
    assert f'hostKeys: ["{host_key_line(h01)}"]' in err.hint
    assert not marker.exists()
    assert h01.run(["test", "-e", str(marker)], check=False).returncode == 1


def test_unknown_host_is_refused_and_nothing_runs(h01: TestHost, tmp_path: Path) -> None:
    marker = h01.platforms / "marker-unknown"
    h01.run(["mkdir", "-p", str(h01.platforms)])
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    err = _refused(transport(h01, known_hosts=empty), marker)
    assert fingerprint(h01) in err.message
    assert "is unknown" in err.message
    assert f"[127.0.0.1]:{h01.port} {host_key_line(h01)}" in err.hint
    assert not marker.exists()


def test_changed_host_key_is_refused(h01: TestHost, h02: TestHost, tmp_path: Path) -> None:
    lying = tmp_path / "known_hosts"
    lying.write_text(f"[127.0.0.1]:{h01.port} {host_key_line(h02)}\n")
    marker = h01.platforms / "marker-changed"
    err = _refused(transport(h01, known_hosts=lying), marker)
    assert "CHANGED" in err.message
    assert fingerprint(h01) in err.message
    assert not marker.exists()


def test_unused_port_is_a_connect_error_after_the_retries(h01: TestHost) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = SshTransport(
        "gone",
        "127.0.0.1",
        port,
        "aegir",
        client_key=h01.identity_file,
        known_hosts=h01.known_hosts,
        retry=RetryPolicy(attempts=4, initial=0.05, maximum=0.2),
    )

    async def body(t: SshTransport) -> ConnectError:
        with pytest.raises(ConnectError) as info:
            await t.run(["true"])
        return info.value

    err = with_transport(t, body)
    assert t.connect_attempts == 4
    assert str(err).startswith(
        f"gone: cannot connect to aegir@127.0.0.1:{port}: connection refused"
    )
    assert "4 attempts" in str(err)


def test_stream_moves_50_mb_through_cat_both_ways(h01: TestHost) -> None:
    size = 50 << 20
    block = os.urandom(1 << 20)

    async def body(t: SshTransport) -> None:
        sent, received = hashlib.sha256(), hashlib.sha256()
        async with await t.stream(["cat"]) as proc:

            async def writer() -> None:
                for _ in range(size // len(block)):
                    sent.update(block)
                    await proc.write(block)
                await proc.close_stdin()

            task = asyncio.create_task(writer())
            count = 0
            while chunk := await proc.read(1 << 18):
                assert len(chunk) <= 1 << 18
                received.update(chunk)
                count += len(chunk)
            await task
            result = await proc.wait(timeout=30)
        assert result.exit_status == 0
        assert count == size
        assert received.hexdigest() == sent.hexdigest()

        # and a download of what an upload wrote, through separate streams
        path = str(h01.platforms / "blob")
        await t.run(["mkdir", "-p", str(h01.platforms)], check=True)
        async with await t.stream(["sh", "-c", 'cat > "$1"', "sh", path]) as up:
            for _ in range(size // len(block)):
                await up.write(block)
            assert (await up.wait(timeout=30)).exit_status == 0
        down = hashlib.sha256()
        async with await t.stream(["cat", path]) as proc:
            while chunk := await proc.read():
                down.update(chunk)
            assert (await proc.wait(timeout=30)).ok
        assert down.hexdigest() == hashlib.sha256(block * (size // len(block))).hexdigest()

    with_transport(transport(h01), body)


def test_command_timeout_then_the_connection_is_still_usable(h01: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        conn = await t.connection()
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as info:
            await t.run(["sleep", "37.25"], timeout=0.5)
        assert time.monotonic() - started < 3
        assert "sleep 37.25" in str(info.value)
        assert (await t.run(["echo", "still here"])).out == "still here\n"
        assert await t.connection() is conn
        # the remote command was killed, not left running
        for _ in range(40):
            r = await t.run(["pgrep", "-u", "aegir", "-f", "sleep 37.25"])
            if r.exit_status == 1:
                break
            await asyncio.sleep(0.05)
        assert r.exit_status == 1, r.out

    with_transport(transport(h01), body)


def test_fifty_concurrent_commands_on_one_connection(h01: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        results = await asyncio.gather(
            *(t.run(["sh", "-c", 'sleep 0.1; echo "$1"', "sh", str(i)]) for i in range(50))
        )
        assert [r.out for r in results] == [f"{i}\n" for i in range(50)]
        assert t.connections_opened == 1
        assert our_connections(h01.port) == 1

    with_transport(transport(h01), body)


def test_more_sessions_than_the_server_allows_are_queued(h02: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        results = await asyncio.gather(*(t.run(["echo", str(i)]) for i in range(40)))
        assert [r.out for r in results] == [f"{i}\n" for i in range(40)]

    with_transport(transport(h02, max_sessions=3), body)


def test_stream_to_a_command_that_stops_reading(h01: TestHost) -> None:
    async def body(t: SshTransport) -> None:
        async with await t.stream(["head", "-c", "10"]) as proc:

            async def flood() -> None:
                for _ in range(200):
                    await proc.write(b"x" * (1 << 16))

            with pytest.raises(BrokenPipeError):
                await flood()
            assert await proc.read() == b"x" * 10
            assert (await proc.wait(timeout=10)).exit_status == 0
        assert (await t.run(["echo", "ok"])).out == "ok\n"

    with_transport(transport(h01), body)
