"""Where manifests come from: the tree of one git commit, or a local checkout's files as they are.

A repository is a local path or a URL; a URL is cloned (bare) into a cache directory and fetched on
later runs. Files are read from the commit's tree, never from a work tree, unless `--worktree` asks
for the checkout's files. Anything that cannot be read is a `SourceError`, never "nothing declared".
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from reconciler.errors import SourceError

__all__ = ["ManifestFile", "SourceSpec", "default_cache_dir", "is_url", "read_manifest_files"]

_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")
_BLOB_MODES = (0o100644, 0o100755)


@dataclass(frozen=True)
class SourceSpec:
    """What the global options say about the desired state's source."""

    repo: str = "."
    branch: str | None = None
    rev: str | None = None
    path: str = ""
    worktree: bool = False
    cache_dir: Path | None = None


@dataclass(frozen=True)
class ManifestFile:
    path: str
    content: bytes


def is_url(repo: str) -> bool:
    return "://" in repo or bool(_SCP_LIKE.match(repo))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler" / "repos"


def _wanted(rel: PurePosixPath) -> bool:
    if any(part.startswith(".") for part in rel.parts):
        return False
    return rel.suffix in (".yaml", ".yml")


def _prefix(spec: SourceSpec) -> PurePosixPath:
    raw = spec.path.strip("/")
    prefix = PurePosixPath(raw) if raw else PurePosixPath()
    if ".." in prefix.parts:
        raise SourceError(
            f"--path {spec.path!r} contains '..'", hint="name a directory inside the repository"
        )
    return prefix


def read_manifest_files(spec: SourceSpec) -> tuple[str, list[ManifestFile]]:
    """The revision read (a commit id, or `<commit>+worktree`) and its manifest files."""
    prefix = _prefix(spec)
    if spec.worktree:
        return _read_worktree(spec, prefix)
    repo = _open_repo(spec)
    try:
        commit = _resolve(repo, spec)
        tree = commit.tree
        if str(prefix) != ".":
            try:
                sub = tree / str(prefix)
            except KeyError:
                raise SourceError(
                    f"--path {spec.path!r} does not exist at {commit.hexsha[:12]}",
                    hint="check the directory name, or commit it",
                ) from None
            if not isinstance(sub, git.Tree):
                raise SourceError(
                    f"--path {spec.path!r} is not a directory", hint="name a directory"
                )
            tree = sub
        files: list[ManifestFile] = []
        for item in tree.traverse():
            if not isinstance(item, git.Blob) or item.mode not in _BLOB_MODES:
                continue
            rel = PurePosixPath(str(item.path))
            inner = rel.relative_to(prefix) if str(prefix) != "." else rel
            if _wanted(inner):
                files.append(ManifestFile(str(item.path), item.data_stream.read()))
        files.sort(key=lambda f: f.path)
        return commit.hexsha, files
    finally:
        repo.close()


def _open_repo(spec: SourceSpec) -> git.Repo:
    if is_url(spec.repo):
        return _cached_clone(spec)
    try:
        return git.Repo(spec.repo, search_parent_directories=False)
    except NoSuchPathError:
        raise SourceError(
            f"repository {spec.repo!r} does not exist",
            hint="pass --repo PATH or URL of a git repository",
        ) from None
    except InvalidGitRepositoryError:
        raise SourceError(
            f"{spec.repo!r} is not a git repository",
            hint="pass --repo with the repository's top directory, "
            "or --worktree to read plain files",
        ) from None


def _cached_clone(spec: SourceSpec) -> git.Repo:
    cache = spec.cache_dir or default_cache_dir()
    target = cache / hashlib.sha256(spec.repo.encode()).hexdigest()[:16]
    try:
        if (target / "HEAD").exists():
            repo = git.Repo(target)
            repo.git.fetch("--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*")
            return repo
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        return git.Repo.clone_from(spec.repo, target, bare=True)
    except (GitCommandError, InvalidGitRepositoryError, NoSuchPathError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise SourceError(
            f"cannot fetch repository {spec.repo}: {str(detail).strip()}",
            hint="check the URL and that this host's SSH key or token may read it",
        ) from None


def _resolve(repo: git.Repo, spec: SourceSpec) -> git.Commit:
    try:
        if spec.rev:
            return repo.commit(spec.rev)
        if spec.branch:
            return repo.commit(f"refs/heads/{spec.branch}")
        return repo.head.commit
    except (BadName, ValueError, GitCommandError):
        pass
    if spec.rev:
        raise SourceError(
            f"revision {spec.rev!r} does not exist in {spec.repo}",
            hint="pass a commit id, tag or branch that exists (git log shows them)",
        )
    if spec.branch:
        raise SourceError(
            f"branch {spec.branch!r} does not exist in {spec.repo}",
            hint="pass --branch with an existing branch (git branch -a lists them)",
        )
    raise SourceError(
        f"repository {spec.repo} has no commits",
        hint="commit the manifests first, or use --worktree",
    )


def _read_worktree(spec: SourceSpec, prefix: PurePosixPath) -> tuple[str, list[ManifestFile]]:
    if is_url(spec.repo):
        raise SourceError("--worktree reads a local checkout", hint="pass --repo with a local path")
    root = Path(spec.repo)
    if not root.is_dir():
        raise SourceError(
            f"repository {spec.repo!r} does not exist", hint="pass --repo with a directory"
        )
    revision = "worktree"
    try:
        with git.Repo(root) as repo:
            revision = f"{repo.head.commit.hexsha}+worktree"
    except (InvalidGitRepositoryError, NoSuchPathError, ValueError):
        pass
    base = root / prefix
    if not base.is_dir():
        raise SourceError(f"--path {spec.path!r} is not a directory", hint="name a directory")
    files: list[ManifestFile] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            inner = PurePosixPath(full.relative_to(base).as_posix())
            if full.is_symlink() or not full.is_file() or not _wanted(inner):
                continue
            try:
                content = full.read_bytes()
            except OSError as exc:
                raise SourceError(
                    f"cannot read {full}: {exc.strerror}", hint="check its permissions"
                ) from None
            files.append(ManifestFile(full.relative_to(root).as_posix(), content))
    return revision, files
