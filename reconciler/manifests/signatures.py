"""Source trust: is a commit signed by a key the operator trusts?

`verify_head` asks git itself (`git log --format=%G?...`), which checks SSH signatures with
`ssh-keygen` against an allowed signers file (git's `gpg.ssh.allowedSignersFile` format, one
`<principal> namespaces="git" ssh-ed25519 AAAA...` line per key) and GPG signatures with `gpg`.
For GPG the trusted keys are exactly the public keys in the keyring file: they are imported into
a private, temporary `GNUPGHOME` (mode 0700, `trust-model always`, no agent, no key fetching) that
only that git call sees, so the user's own `~/.gnupg` is never read or written.

The answer is None when the commit is trusted, otherwise the reason in a user's words, naming the
key's fingerprint or the file and what to do (those words for git's verdict are
`signature_reasons`'). `verify_source` is the same question for the commit a `SourceSpec` was read
at (a local repository, or the cache clone of a URL).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from reconciler.errors import SourceError
from reconciler.manifests.signature_reasons import KEYRING_FIX, SIGNERS_FIX, reason
from reconciler.manifests.source import SourceSpec, default_cache_dir, is_url

__all__ = ["source_repository_path", "verify_head", "verify_source"]

_TIMEOUT = 60.0
_GPG_CONF = "no-autostart\nno-auto-key-retrieve\ntrust-model always\n"


def verify_head(
    repo_path: Path, rev: str, *, allowed_signers: Path | None, gpg_keyring: Path | None
) -> str | None:
    """None if commit `rev` of the repository at `repo_path` is signed by a trusted key.

    Otherwise the reason, for the user: the commit is unsigned; it is signed by an SSH key not in
    `allowed_signers` or a GPG key not in `gpg_keyring` (naming the key's fingerprint); its
    signature is bad; or a trust file is missing, unreadable or empty (naming the file and the
    fix). Pass the commit id that will be applied, not a branch name that may move meanwhile.

    Raises `SourceError` when the repository or the revision cannot be read at all.
    """
    if allowed_signers is None and gpg_keyring is None:
        return (
            "no trusted keys are configured: pass --allowed-signers FILE (SSH signatures) "
            "and/or --gpg-keyring FILE (GPG signatures)"
        )
    commit_id, signature = _resolve(repo_path, rev)
    short = commit_id[:12]
    signers = allowed_signers.absolute() if allowed_signers is not None else None
    keyring = gpg_keyring.absolute() if gpg_keyring is not None else None
    if signers is not None:
        problem = _check_allowed_signers(signers)
        if problem:
            return problem
    keyring_data: bytes | None = None
    if keyring is not None:
        keyring_data, problem = _read_keyring(keyring)
        if problem:
            return problem
    kind = _signature_kind(signature)
    if kind == "x509":
        return (
            f"commit {short} is signed with an X.509 certificate (gpgsm), which is not "
            "accepted: sign commits with an SSH key (--allowed-signers) or a GPG key "
            "(--gpg-keyring)"
        )
    ssh_keygen = shutil.which("ssh-keygen")
    if kind == "ssh" and ssh_keygen is None:
        return "ssh-keygen is not installed on this host: install openssh-client"
    gpg = shutil.which("gpg")
    if kind == "gpg" and keyring_data is not None and gpg is None:
        return "gpg is not installed on this host: install gnupg"
    home = tempfile.mkdtemp(prefix="reconciler-gnupg-")  # mode 0700
    try:
        Path(home, "gpg.conf").write_text(_GPG_CONF, encoding="utf-8")
        if keyring is not None and keyring_data is not None and gpg is not None:
            problem = _import_keyring(gpg, home, keyring_data, keyring)
            if problem:
                return problem
        status, fingerprint, key_id, raw = _git_verdict(
            repo_path,
            commit_id,
            home=home,
            signers=signers,
            gpg=gpg or "gpg",
            ssh_keygen=ssh_keygen or "ssh-keygen",
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return reason(
        status,
        short=short,
        kind=kind,
        fingerprint=fingerprint,
        key_id=key_id,
        raw=raw,
        allowed_signers=signers,
        gpg_keyring=keyring,
    )


def source_repository_path(spec: SourceSpec) -> Path:
    """The repository `read_manifest_files(spec)` reads: a local path, or a URL's cache clone."""
    if is_url(spec.repo):
        cache = spec.cache_dir or default_cache_dir()
        return cache / hashlib.sha256(spec.repo.encode()).hexdigest()[:16]
    return Path(spec.repo)


def verify_source(
    spec: SourceSpec,
    revision: str,
    *,
    allowed_signers: Path | None,
    gpg_keyring: Path | None,
) -> str | None:
    """`verify_head` for the commit `read_manifest_files(spec)` answered with (`revision`).

    Call it after reading, with the commit id that read returned (for `--branch`, the branch
    head it fetched): the commit checked is then exactly the one whose manifests are applied,
    even if the branch moves meanwhile. Nothing is fetched here. Files read with `--worktree`
    are not a commit and carry no signature, so they are refused.
    """
    if spec.worktree or revision == "worktree" or revision.endswith("+worktree"):
        return (
            "--worktree reads files that are not committed, so they carry no signature: "
            "drop --worktree to verify signatures"
        )
    return verify_head(
        source_repository_path(spec),
        revision,
        allowed_signers=allowed_signers,
        gpg_keyring=gpg_keyring,
    )


def _resolve(repo_path: Path, rev: str) -> tuple[str, str]:
    """The full commit id `rev` names and its signature block ("" when unsigned)."""
    if rev.startswith("-"):
        raise SourceError(f"revision {rev!r} is not valid", hint="pass a commit id or branch")
    try:
        repo = git.Repo(repo_path)
    except NoSuchPathError:
        raise SourceError(
            f"repository {str(repo_path)!r} does not exist",
            hint="pass the path of a git repository",
        ) from None
    except InvalidGitRepositoryError:
        raise SourceError(
            f"{str(repo_path)!r} is not a git repository",
            hint="pass the path of a git repository",
        ) from None
    try:
        commit = repo.commit(rev)
        return commit.hexsha, str(commit.gpgsig or "")
    except (BadName, ValueError, GitCommandError):
        raise SourceError(
            f"revision {rev!r} does not exist in {repo_path}",
            hint="pass a commit id, tag or branch that exists (git log shows them)",
        ) from None
    finally:
        repo.close()


def _signature_kind(signature: str) -> str:
    """The format git picks for a signature block: "ssh", "gpg", "x509", or "" when unsigned."""
    if signature.startswith("-----BEGIN SSH SIGNATURE-----"):
        return "ssh"
    if signature.startswith(("-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----")):
        return "gpg"
    if signature.startswith("-----BEGIN SIGNED MESSAGE-----"):
        return "x509"
    return ""


def _check_allowed_signers(path: Path) -> str | None:
    """Why the allowed signers file cannot be used, or None."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"the allowed signers file {path} does not exist: {SIGNERS_FIX}"
    except IsADirectoryError:
        return f"the allowed signers file {path} is a directory, not a file: {SIGNERS_FIX}"
    except OSError as exc:
        return (
            f"cannot read the allowed signers file {path}: {exc.strerror}; "
            "make it readable by the controller's user"
        )
    entries = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not entries:
        return f"the allowed signers file {path} lists no keys: {SIGNERS_FIX}"
    return None


def _read_keyring(path: Path) -> tuple[bytes, str | None]:
    """The keyring file's bytes, or why it cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", f"the GPG keyring {path} does not exist: {KEYRING_FIX}"
    except IsADirectoryError:
        return b"", f"the GPG keyring {path} is a directory, not a file: {KEYRING_FIX}"
    except OSError as exc:
        return b"", (
            f"cannot read the GPG keyring {path}: {exc.strerror}; "
            "make it readable by the controller's user"
        )
    return data, None


def _import_keyring(gpg: str, home: str, data: bytes, path: Path) -> str | None:
    """Import the keyring's public keys into the private GNUPGHOME; why not, or None."""
    try:
        done = subprocess.run(
            [gpg, "--homedir", home, "--batch", "--no-tty", "--status-fd", "1", "--import"],
            input=data,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"gpg did not finish importing the GPG keyring {path} within {_TIMEOUT:.0f} s"
    imported = [
        line for line in done.stdout.decode(errors="replace").splitlines() if " IMPORT_OK " in line
    ]
    if not imported:
        detail = _last_line(done.stderr.decode(errors="replace"))
        return (
            f"the GPG keyring {path} holds no public key gpg can import ({detail}): {KEYRING_FIX}"
        )
    return None


def _git_verdict(
    repo_path: Path,
    commit_id: str,
    *,
    home: str,
    signers: Path | None,
    gpg: str,
    ssh_keygen: str,
) -> tuple[str, str, str, str]:
    """git's `%G?` status, fingerprint, key id and raw verification output for the commit."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    env["GNUPGHOME"] = home
    # Without an allowed signers file git 2.39 aborts on an SSH-signed commit; /dev/null lists
    # nobody, so an SSH signature is then "good but untrusted" like any unlisted key.
    signers_file = str(signers) if signers is not None else os.devnull
    command = [
        "git",
        "-C",
        str(repo_path),
        "-c",
        f"gpg.ssh.allowedSignersFile={signers_file}",
        "-c",
        f"gpg.ssh.program={ssh_keygen}",
        "-c",
        f"gpg.program={gpg}",
        "-c",
        "log.showSignature=false",
        "--no-pager",
        "log",
        "-1",
        "--format=%G?%x00%GF%x00%GK%x00%GG",
        commit_id,
    ]
    try:
        done = subprocess.run(command, env=env, capture_output=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return "E", "", "", f"git did not finish checking the signature within {_TIMEOUT:.0f} s"
    if done.returncode != 0:
        return "E", "", "", _last_line(done.stderr.decode(errors="replace"))
    parts = done.stdout.decode(errors="replace").split("\x00", 3)
    if len(parts) != 4:
        return "E", "", "", "git printed no signature status"
    status, fingerprint, key_id, raw = parts
    return status.strip(), fingerprint.strip(), key_id.strip(), raw.strip()


def _last_line(text: str) -> str:
    """The last non-blank line of a tool's error output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no detail"
