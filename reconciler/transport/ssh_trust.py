"""`SshTrust`: what an `SshTransport` trusts, strictly, and how it says so when trust fails.

* identity: the `--ssh-key` file when given (and nothing else), otherwise asyncssh's defaults
  (the keys in ~/.ssh and the agent). Public-key authentication only: no password, no
  keyboard-interactive, no GSSAPI, no host-based.
* host keys: the manifest's pinned `hostKeys` when there are any (exactly those, for this host and
  port); otherwise the `--known-hosts` file, otherwise ~/.ssh/known_hosts (and
  /etc/ssh/ssh_known_hosts when present). A missing file trusts nothing. An unknown or changed key
  is refused with `HostKeyError`, whose message has the fingerprint of the key the server presented
  (fetched by a separate key-exchange-only probe that authenticates nothing and runs nothing) and
  whose hint is the exact line to pin it with. ~/.ssh/config is not read: the manifest says where
  to go.

`SshTrust` is the half of `ssh.SshTransport` that holds these rules: the connect options (identity,
trusted host keys, no other authentication), the hint for a refused key and the `HostKeyError` for
an unknown or changed host key. `SshTransport` sets the attributes it reads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh

from reconciler.transport.base import AuthenticationError, HostKeyError
from reconciler.transport.ssh_errors import _key_line

__all__ = ["SshTrust"]

_GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


class SshTrust:
    """The trust rules of one SSH server (see the module documentation): `SshTransport`'s base."""

    _name: str
    host: str
    port: int
    user: str
    _pinned: list[asyncssh.SSHKey]
    known_hosts: Path | None
    client_key: Path | None
    connect_timeout: float
    keepalive_interval: float
    keepalive_count_max: int

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _trusted_hosts(self) -> asyncssh.SSHKnownHosts | list[str] | bytes:
        if self._pinned:
            pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            lines = "".join(f"{pattern} {_key_line(key)}\n" for key in self._pinned)
            return asyncssh.import_known_hosts(lines)
        files = self._known_hosts_files()
        return [str(f) for f in files] if files else b""

    def _known_hosts_files(self) -> list[Path]:
        if self.known_hosts is not None:
            return [self.known_hosts] if self.known_hosts.is_file() else []
        files = [Path("~/.ssh/known_hosts").expanduser(), _GLOBAL_KNOWN_HOSTS]
        return [f for f in files if f.is_file()]

    def _connect_options(self) -> dict[str, object]:
        if self.client_key is not None:
            # Read the key here so that a missing or unreadable file is a permanent error.
            try:
                key = asyncssh.read_private_key(self.client_key)
            except (OSError, asyncssh.KeyImportError) as exc:
                raise AuthenticationError(
                    self._name,
                    f"the SSH key {self.client_key} cannot be used: {exc}",
                    hint="pass --ssh-key with a readable private key without a passphrase "
                    "(or leave it out to use ~/.ssh and the agent)",
                ) from None
            keys: dict[str, object] = {"client_keys": [key], "agent_path": None}
        else:
            keys = {}  # asyncssh's defaults: ~/.ssh/id_* and the agent (SSH_AUTH_SOCK)
        return {
            **keys,
            "username": self.user,
            "known_hosts": self._trusted_hosts(),
            "config": [],  # not ~/.ssh/config: the manifest says where to go
            "password_auth": False,
            "kbdint_auth": False,
            "gss_auth": False,
            "host_based_auth": False,
            "preferred_auth": "publickey",
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": self.keepalive_interval,
            "keepalive_count_max": self.keepalive_count_max,
        }

    def _auth_hint(self) -> str:
        key = (
            f"the key {self.client_key} (--ssh-key)"
            if self.client_key
            else "your ~/.ssh keys or the agent's"
        )
        return (
            f"add the public half of {key} to ~{self.user}/.ssh/authorized_keys on the server, "
            "or pass --ssh-key with the right key; passwords are never used"
        )

    async def _presented_key(self) -> asyncssh.SSHKey | None:
        """The host key the server presents: key exchange only, nothing authenticated or run."""
        algs = sorted({key.get_algorithm() for key in self._pinned}) if self._pinned else ()
        try:
            return await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    self.host, self.port, server_host_key_algs=algs, config=[]
                ),
                self.connect_timeout,
            )
        except (asyncssh.Error, OSError, TimeoutError):
            return None

    async def _host_key_error(self) -> HostKeyError:
        key = await self._presented_key()
        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        if self._pinned:
            trust = "does not match the manifest's pinned hostKeys"
            pinned = ", ".join(key.get_fingerprint("sha256") for key in self._pinned)
            trust += f" ({pinned})"
        else:
            files = self._known_hosts_files()
            if not files:
                where = str(self.known_hosts or "~/.ssh/known_hosts")
                trust = f"is unknown: {where} does not exist, so no host key is trusted"
            else:
                known = asyncssh.read_known_hosts([str(f) for f in files])
                listed = known.match(self.host, self.host, self.port)[0]
                names = ", ".join(str(f) for f in files)
                trust = (
                    f"has CHANGED: {names} lists another key for it (possibly an attack)"
                    if listed
                    else f"is unknown: not in {names}"
                )
        if key is None:
            return HostKeyError(
                self._name,
                f"the host key of {self.address} {trust}; a second look at the key failed",
                hint="check the key on the server "
                "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) "
                "and pin it in the Server manifest's hostKeys",
            )
        line = _key_line(key)
        known_file = str(self.known_hosts or "~/.ssh/known_hosts")
        return HostKeyError(
            self._name,
            f"the host key of {self.address} {trust}; the server presented "
            f"{key.get_algorithm()} {key.get_fingerprint('sha256')}. Nothing was run.",
            hint="if that is the server's real key (compare with `ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub` on its console), pin it in the Server manifest: "
            f'`hostKeys: ["{line}"]`, or add this line to {known_file}: `{pattern} {line}`',
        )
