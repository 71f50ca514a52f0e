"""Signed commits: real git, real `ssh-keygen` and `gpg` keys made here, real signatures.

SSH: a key in the allowed signers file is trusted; an unsigned commit, a key not listed, a
tampered file, a wrong namespace, a forged commit and a missing file are each refused with a reason
naming the key or the file. GPG: the keyring file's keys are trusted and nothing else, not even the
keys in the caller's own GNUPGHOME, which is left as it was.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.manifests.signatures import source_repository_path, verify_head, verify_source
from reconciler.manifests.source import SourceSpec, read_manifest_files
from unit.gitrepo import ENV, git, make_repo


@dataclass(frozen=True)
class SshKey:
    private: Path
    public: str  # "ssh-ed25519 AAAA..."
    fingerprint: str  # "SHA256:..."


@dataclass(frozen=True)
class GpgKeys:
    home: Path  # holds both secret keys, as a developer's own ~/.gnupg would
    alice: str  # fingerprints
    mallory: str
    armored: Path  # Alice's public key only, `gpg --export --armor`
    binary: Path  # the same, `gpg --export`


def _run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _ssh_key(directory: Path, name: str) -> SshKey:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / name
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)])
    public = " ".join(Path(f"{private}.pub").read_text().split()[:2])
    fingerprint = _run(["ssh-keygen", "-l", "-f", f"{private}.pub"]).split()[1]
    assert fingerprint.startswith("SHA256:")
    return SshKey(private, public, fingerprint)


def _allowed_signers(path: Path, *entries: tuple[str, SshKey]) -> Path:
    path.write_text(
        "# trusted keys\n"
        + "".join(f'{principal} namespaces="git" {key.public}\n' for principal, key in entries)
    )
    return path


def _commit(
    repo: Path, content: str, message: str, *config: str, env: dict[str, str] | None = None
) -> str:
    """Commit `content` to m.yaml; `config` are `-c` settings (signing), `env` extra variables."""
    (repo / "m.yaml").write_text(content)
    git(repo, "add", "m.yaml")
    args = ["git"]
    for setting in config:
        args += ["-c", setting]
    args += ["commit", "-q", "-m", message]
    if config:
        args.append("-S")
    _run(args, cwd=repo, env={**ENV, **(env or {})})
    return git(repo, "rev-parse", "HEAD")


def _ssh_commit(repo: Path, content: str, key: SshKey) -> str:
    return _commit(
        repo,
        content,
        f"signed by {key.private.name}",
        "gpg.format=ssh",
        f"user.signingkey={key.private}",
    )


def _gpg_commit(repo: Path, content: str, keys: GpgKeys, fingerprint: str) -> str:
    return _commit(
        repo,
        content,
        "gpg-signed",
        "gpg.program=gpg",
        f"user.signingkey={fingerprint}",
        env={"GNUPGHOME": str(keys.home)},
    )


def _forge(repo: Path, commit_id: str) -> str:
    """A copy of a signed commit with its message changed: the signature no longer matches."""
    raw = subprocess.run(
        ["git", "cat-file", "commit", commit_id], cwd=repo, env=ENV, check=True, capture_output=True
    ).stdout
    assert b"\ngpgsig " in raw
    forged = raw.rstrip(b"\n") + b" (changed after signing)\n"
    done = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=repo,
        env=ENV,
        input=forged,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode().strip()


@pytest.fixture
def alice(tmp_path: Path) -> SshKey:
    return _ssh_key(tmp_path / "keys", "alice")


@pytest.fixture
def mallory(tmp_path: Path) -> SshKey:
    return _ssh_key(tmp_path / "keys", "mallory")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {})


@pytest.fixture
def signers(tmp_path: Path, alice: SshKey) -> Path:
    return _allowed_signers(tmp_path / "allowed_signers", ("alice@example.com", alice))


@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKeys]:
    base = tmp_path_factory.mktemp("gpg")
    home = base / "home"
    home.mkdir(mode=0o700)
    env = {**ENV, "GNUPGHOME": str(home)}
    try:
        fingerprints = []
        for uid in ("Alice <alice@example.com>", "Mallory <mallory@example.com>"):
            _run(
                ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign"],
                env=env,
            )
            listing = _run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env=env)
            fingerprints.append(
                next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
            )
        armored, binary = base / "alice.asc", base / "alice.gpg"
        armored.write_text(
            _run(["gpg", "--batch", "--armor", "--export", fingerprints[0]], env=env) + "\n"
        )
        binary.write_bytes(
            subprocess.run(
                ["gpg", "--batch", "--export", fingerprints[0]],
                env=env,
                check=True,
                capture_output=True,
            ).stdout
        )
        yield GpgKeys(home, fingerprints[0], fingerprints[1], armored, binary)
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


# --- SSH ---------------------------------------------------------------------------------------


def test_a_commit_signed_by_an_allowed_ssh_key_is_trusted(
    repo: Path, alice: SshKey, signers: Path
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    assert verify_head(repo, head, allowed_signers=signers, gpg_keyring=None) is None
    # a branch name resolves to the same commit
    assert verify_head(repo, "main", allowed_signers=signers, gpg_keyring=None) is None


def test_an_unsigned_commit_is_refused(repo: Path, alice: SshKey, signers: Path) -> None:
    _ssh_commit(repo, "a: 1\n", alice)
    head = _commit(repo, "a: 2\n", "unsigned")
    reason = verify_head(repo, head, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert f"commit {head[:12]} is not signed" in reason
    assert str(signers) in reason
    # its signed parent is still trusted: the commit asked about is the one checked
    assert verify_head(repo, "HEAD~1", allowed_signers=signers, gpg_keyring=None) is None


def test_a_key_not_in_the_allowed_signers_file_is_refused_by_fingerprint(
    repo: Path, alice: SshKey, mallory: SshKey, signers: Path
) -> None:
    head = _ssh_commit(repo, "a: 1\n", mallory)
    reason = verify_head(repo, head, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert f"signed with SSH key {mallory.fingerprint}, which is not in the allowed" in reason
    assert str(signers) in reason
    assert alice.fingerprint not in reason


@pytest.mark.parametrize("damage", ["key-bytes", "key-header"])
def test_a_tampered_allowed_signers_line_no_longer_trusts_the_key(
    tmp_path: Path, repo: Path, alice: SshKey, damage: str
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    kind, blob = alice.public.split()
    if damage == "key-bytes":  # one character of the key itself: another, unlisted key
        broken = blob[:60] + ("A" if blob[60] != "A" else "B") + blob[61:]
    else:  # the encoded length of the key type: a line ssh-keygen cannot read
        assert blob.startswith("AAAA")
        broken = "AAAB" + blob[4:]
    tampered = tmp_path / "tampered"
    tampered.write_text(f'alice@example.com namespaces="git" {kind} {broken}\n')
    reason = verify_head(repo, head, allowed_signers=tampered, gpg_keyring=None)
    assert reason is not None
    assert f"signed with SSH key {alice.fingerprint}, which is not in the allowed" in reason
    assert str(tampered) in reason
    if damage == "key-header":
        assert f"ssh-keygen could not use some lines of the file: {tampered}:1: invalid key" in (
            reason
        )
    else:
        assert "could not use" not in reason


def test_a_key_listed_for_another_namespace_is_refused(
    tmp_path: Path, repo: Path, alice: SshKey
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    other = tmp_path / "file-namespace"
    other.write_text(f'alice@example.com namespaces="file" {alice.public}\n')
    reason = verify_head(repo, head, allowed_signers=other, gpg_keyring=None)
    assert reason is not None
    assert 'does not allow the "git" namespace' in reason
    assert str(other) in reason


def test_a_commit_changed_after_signing_has_a_bad_signature(
    repo: Path, alice: SshKey, signers: Path
) -> None:
    forged = _forge(repo, _ssh_commit(repo, "a: 1\n", alice))
    reason = verify_head(repo, forged, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert f"commit {forged[:12]} has a bad SSH signature" in reason
    assert "incorrect signature" in reason


@pytest.mark.parametrize(
    ("state", "says"),
    [("missing", "does not exist"), ("directory", "is a directory"), ("empty", "lists no keys")],
)
def test_an_unusable_allowed_signers_file_is_named_with_the_fix(
    tmp_path: Path, repo: Path, alice: SshKey, state: str, says: str
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    path = tmp_path / "allowed_signers"
    if state == "directory":
        path.mkdir()
    elif state == "empty":
        path.write_text("# nobody yet\n\n")
    reason = verify_head(repo, head, allowed_signers=path, gpg_keyring=None)
    assert reason is not None
    assert f"the allowed signers file {path} {says}" in reason
    assert 'namespaces="git"' in reason  # the fix: what a line looks like
    assert "--allowed-signers" in reason


def test_an_unreadable_allowed_signers_file_is_named(
    tmp_path: Path, repo: Path, alice: SshKey
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "plain" / "allowed_signers"  # under a file: ENOTDIR, even for root
    reason = verify_head(repo, head, allowed_signers=path, gpg_keyring=None)
    assert reason == (
        f"cannot read the allowed signers file {path}: Not a directory; "
        "make it readable by the controller's user"
    )


def test_a_relative_allowed_signers_path_is_taken_from_the_working_directory(
    tmp_path: Path, repo: Path, alice: SshKey, signers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    monkeypatch.chdir(tmp_path)  # not the repository's directory, where git runs
    relative = signers.relative_to(tmp_path)
    assert verify_head(repo, head, allowed_signers=relative, gpg_keyring=None) is None


def test_an_ssh_signature_without_allowed_signers_is_refused(
    repo: Path, alice: SshKey, gpg_keys: GpgKeys
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    reason = verify_head(repo, head, allowed_signers=None, gpg_keyring=gpg_keys.armored)
    assert reason is not None
    assert f"signed with SSH key {alice.fingerprint}, but no --allowed-signers" in reason


def test_nothing_trusted_refuses_everything(repo: Path, alice: SshKey) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    reason = verify_head(repo, head, allowed_signers=None, gpg_keyring=None)
    assert reason is not None
    assert "no trusted keys are configured" in reason


def test_an_x509_signature_is_refused(repo: Path, alice: SshKey, signers: Path) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    raw = subprocess.run(
        ["git", "cat-file", "commit", head], cwd=repo, env=ENV, check=True, capture_output=True
    ).stdout
    x509 = raw.replace(b"-----BEGIN SSH SIGNATURE-----", b"-----BEGIN SIGNED MESSAGE-----")
    forged = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=repo,
        env=ENV,
        input=x509,
        check=True,
        capture_output=True,
    ).stdout.decode()
    reason = verify_head(repo, forged.strip(), allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert "X.509" in reason


def test_a_missing_repository_or_revision_is_a_source_error(
    tmp_path: Path, repo: Path, alice: SshKey, signers: Path
) -> None:
    _ssh_commit(repo, "a: 1\n", alice)
    with pytest.raises(SourceError, match="does not exist"):
        verify_head(tmp_path / "nowhere", "HEAD", allowed_signers=signers, gpg_keyring=None)
    with pytest.raises(SourceError, match="not a git repository"):
        verify_head(tmp_path / "keys", "HEAD", allowed_signers=signers, gpg_keyring=None)
    with pytest.raises(SourceError, match="revision 'nope' does not exist"):
        verify_head(repo, "nope", allowed_signers=signers, gpg_keyring=None)
    with pytest.raises(SourceError, match="not valid"):
        verify_head(repo, "--all", allowed_signers=signers, gpg_keyring=None)


# --- GPG ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["armored", "binary"])
def test_a_commit_signed_by_a_key_in_the_gpg_keyring_is_trusted(
    repo: Path, gpg_keys: GpgKeys, form: str
) -> None:
    head = _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.alice)
    keyring = gpg_keys.armored if form == "armored" else gpg_keys.binary
    assert verify_head(repo, head, allowed_signers=None, gpg_keyring=keyring) is None


def test_a_gpg_key_not_in_the_keyring_is_refused_by_fingerprint(
    repo: Path, gpg_keys: GpgKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.mallory)
    before = _snapshot(gpg_keys.home)
    # The caller's own GNUPGHOME holds (and ultimately trusts) Mallory's key: it must not count.
    monkeypatch.setenv("GNUPGHOME", str(gpg_keys.home))
    reason = verify_head(repo, head, allowed_signers=None, gpg_keyring=gpg_keys.armored)
    assert reason is not None
    assert f"signed with GPG key {gpg_keys.mallory}, which is not in the GPG keyring" in reason
    assert str(gpg_keys.armored) in reason
    assert _snapshot(gpg_keys.home) == before  # nothing imported into it, nothing rewritten


def test_gpg_verification_uses_a_private_home_and_removes_it(
    tmp_path: Path, repo: Path, gpg_keys: GpgKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.alice)
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GNUPGHOME", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert verify_head(repo, head, allowed_signers=None, gpg_keyring=gpg_keys.armored) is None
    assert not (home / ".gnupg").exists()
    assert list(temp.iterdir()) == []


def test_a_gpg_signature_without_a_keyring_is_refused(
    repo: Path, gpg_keys: GpgKeys, signers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.alice)
    monkeypatch.setenv("GNUPGHOME", str(gpg_keys.home))  # would trust it, if it were used
    reason = verify_head(repo, head, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert f"signed with GPG key {gpg_keys.alice}, but no --gpg-keyring was given" in reason


def test_a_gpg_signed_commit_changed_after_signing_is_refused(
    repo: Path, gpg_keys: GpgKeys
) -> None:
    forged = _forge(repo, _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.alice))
    reason = verify_head(repo, forged, allowed_signers=None, gpg_keyring=gpg_keys.armored)
    assert reason is not None
    assert f"commit {forged[:12]} has a bad GPG signature" in reason


def test_an_unsigned_commit_is_refused_with_a_gpg_keyring(repo: Path, gpg_keys: GpgKeys) -> None:
    head = _commit(repo, "a: 1\n", "unsigned")
    reason = verify_head(repo, head, allowed_signers=None, gpg_keyring=gpg_keys.armored)
    assert reason is not None
    assert f"is not signed: sign it (git commit -S) with a GPG key in {gpg_keys.armored}" in reason


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        (b"", "holds no public key gpg can import"),
        (b"not a key\n", "holds no public key gpg can import"),
    ],
    ids=["missing", "empty", "garbage"],
)
def test_an_unusable_gpg_keyring_is_named_with_the_fix(
    tmp_path: Path, repo: Path, gpg_keys: GpgKeys, content: bytes | None, says: str
) -> None:
    head = _gpg_commit(repo, "a: 1\n", gpg_keys, gpg_keys.alice)
    keyring = tmp_path / "keyring.asc"
    if content is not None:
        keyring.write_bytes(content)
    reason = verify_head(repo, head, allowed_signers=None, gpg_keyring=keyring)
    assert reason is not None
    assert f"the GPG keyring {keyring}" in reason
    assert says in reason
    assert "gpg --export --armor" in reason


def test_both_kinds_of_signature_with_both_files(
    repo: Path, alice: SshKey, signers: Path, gpg_keys: GpgKeys
) -> None:
    ssh_signed = _ssh_commit(repo, "a: 1\n", alice)
    gpg_signed = _gpg_commit(repo, "a: 2\n", gpg_keys, gpg_keys.alice)
    mallory_signed = _gpg_commit(repo, "a: 3\n", gpg_keys, gpg_keys.mallory)
    for commit_id in (ssh_signed, gpg_signed):
        assert (
            verify_head(repo, commit_id, allowed_signers=signers, gpg_keyring=gpg_keys.armored)
            is None
        )
    assert (
        verify_head(repo, mallory_signed, allowed_signers=signers, gpg_keyring=gpg_keys.armored)
        is not None
    )


# --- a source: the URL's cache clone ------------------------------------------------------------


def test_verify_source_checks_the_branch_head_read_from_a_url_cache_clone(
    tmp_path: Path, alice: SshKey, signers: Path
) -> None:
    origin = make_repo(tmp_path / "origin", {})
    _ssh_commit(origin, "a: 1\n", alice)
    spec = SourceSpec(repo=f"file://{origin}", branch="main", cache_dir=tmp_path / "cache")
    signed, _ = read_manifest_files(spec)
    clone = source_repository_path(spec)
    assert (clone / "HEAD").is_file()  # the very directory source.py cloned into
    assert clone.parent == tmp_path / "cache"
    assert verify_source(spec, signed, allowed_signers=signers, gpg_keyring=None) is None

    unsigned_head = _commit(origin, "a: 2\n", "unsigned on the branch")
    revision, _ = read_manifest_files(spec)  # fetches the new head
    assert revision == unsigned_head
    reason = verify_source(spec, revision, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert f"commit {revision[:12]} is not signed" in reason
    # the commit checked is the one read, whatever the branch is now
    assert verify_source(spec, signed, allowed_signers=signers, gpg_keyring=None) is None


def test_verify_source_of_a_local_repository_and_of_worktree_files(
    repo: Path, alice: SshKey, signers: Path
) -> None:
    _ssh_commit(repo, "a: 1\n", alice)
    spec = SourceSpec(repo=str(repo))
    assert source_repository_path(spec) == repo
    revision, _ = read_manifest_files(spec)
    assert verify_source(spec, revision, allowed_signers=signers, gpg_keyring=None) is None
    worktree = SourceSpec(repo=str(repo), worktree=True)
    revision, _ = read_manifest_files(worktree)
    reason = verify_source(worktree, revision, allowed_signers=signers, gpg_keyring=None)
    assert reason is not None
    assert "--worktree" in reason


def test_the_ssh_check_ignores_a_caller_environment_pointing_git_elsewhere(
    tmp_path: Path, repo: Path, alice: SshKey, signers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _ssh_commit(repo, "a: 1\n", alice)
    other = make_repo(tmp_path / "other", {"m.yaml": b"x: 1\n"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert verify_head(repo, head, allowed_signers=signers, gpg_keyring=None) is None
