"""What wakes the controller for a new commit: file watching of a local repository's refs, and
the cheap question "which commit is the branch head now?".

A local repository is watched with watchfiles on its git directory; only changes to `HEAD`,
`packed-refs` and `refs/` matter (a commit, a fetch into it, a `git update-ref`), not the object
files written before them. A URL is fetched by the periodic poll (and the webhook) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import git
import watchfiles
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from reconciler.manifests.source import SourceSpec, is_url

__all__ = ["git_dir", "head_commit", "ref_change", "watch_refs"]


def git_dir(spec: SourceSpec) -> Path | None:
    """The git directory of a local repository (None for a URL, or when it is not one)."""
    if is_url(spec.repo):
        return None
    try:
        with git.Repo(spec.repo, search_parent_directories=False) as repo:
            return Path(repo.git_dir).resolve()
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None


def head_commit(spec: SourceSpec) -> str | None:
    """The commit the branch (or HEAD) of a local repository points at now; None for a URL or
    when it cannot be told (the full load then says why)."""
    if is_url(spec.repo):
        return None
    try:
        with git.Repo(spec.repo, search_parent_directories=False) as repo:
            ref = f"refs/heads/{spec.branch}" if spec.branch else "HEAD"
            return str(repo.commit(ref).hexsha)
    except (InvalidGitRepositoryError, NoSuchPathError, BadName, ValueError, GitCommandError):
        return None


def ref_change(root: Path) -> Callable[[watchfiles.Change, str], bool]:
    """A watchfiles filter: changes to `HEAD`, `packed-refs` and under `refs/` of `root`."""

    def wanted(change: watchfiles.Change, path: str) -> bool:
        try:
            rel = Path(path).resolve().relative_to(root)
        except ValueError:
            return False
        parts = rel.parts
        if not parts or parts[-1].endswith(".lock"):
            return False
        return parts[0] == "refs" or rel.as_posix() in ("HEAD", "packed-refs")

    return wanted


async def watch_refs(root: Path, on_change: Callable[[], None], stop: asyncio.Event) -> None:
    """Call `on_change` whenever a ref of the repository at `root` changes, until `stop`."""
    async for _ in watchfiles.awatch(
        root,
        watch_filter=ref_change(root),
        stop_event=stop,
        debounce=50,
        step=20,
        recursive=True,
    ):
        on_change()
