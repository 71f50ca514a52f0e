"""Bare git repositories for the hosts to clone by path.

Backs the session fixture ``standin_repo`` and the helper
:func:`make_bare_repo`.

Repositories live under ``/tmp/reconciler-rig/repos/<random>/`` (mode 0755,
so aegir and www-data can read them). They are owned by root, so each one
is added to ``safe.directory`` in the hosts' git config (see
:func:`rig.hosts.trust_repo`); otherwise git refuses to clone them as aegir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rig import layout
from rig.hosts import run_local, trust_repo

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN_SCRIPT = REPO_ROOT / "examples" / "standin-platform" / "build-repo.sh"
STANDIN_TAGS = ("10.2.8", "10.3.6", "10.4.0-failing")


def repo_dir() -> Path:
    """A new world-readable directory under ``/tmp/reconciler-rig/repos``."""
    layout.REPOS.mkdir(parents=True, exist_ok=True)
    layout.REPOS.chmod(0o755)
    d = Path(tempfile.mkdtemp(prefix="r-", dir=layout.REPOS))
    d.chmod(0o755)
    return d


def publish(path: Path) -> Path:
    """Make *path* readable by every host user and trusted by their git."""
    run_local(["chmod", "-R", "a+rX", str(path)])
    trust_repo(path)
    return path


def build_standin_repo(dest: Path) -> Path:
    """Run ``examples/standin-platform/build-repo.sh DEST``; return DEST."""
    # run by its own #! line when executable, else with sh (as written)
    if os.access(STANDIN_SCRIPT, os.X_OK):
        argv = [str(STANDIN_SCRIPT), str(dest)]
    else:
        argv = ["sh", str(STANDIN_SCRIPT), str(dest)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        timeout=110,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{STANDIN_SCRIPT} failed ({proc.returncode}):\n"
            f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}"
        )
    return publish(dest)


def tags(repo: Path) -> set[str]:
    return set(run_local(["git", "--git-dir", str(repo), "tag", "--list"]).out.split())


def make_bare_repo(dest: Path, files: dict[str, str], tag: str | None = None) -> Path:
    """A bare repository at *dest* with one commit of *files* (and a tag)."""
    work = Path(tempfile.mkdtemp(prefix="rig-work-"))
    try:
        run_local(["git", "init", "-q", "-b", "main", str(work)])
        for rel, text in files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git = ["git", "-C", str(work), "-c", "user.name=Rig", "-c", "user.email=rig@localhost"]
        run_local([*git, "add", "-A"])
        run_local([*git, "commit", "-q", "-m", "rig fixture commit"])
        if tag:
            run_local([*git, "tag", tag])
        run_local(["git", "clone", "-q", "--bare", str(work), str(dest)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return publish(dest)
