"""Packaging: the package installs into a fresh virtual environment, and the Dockerfile is sane.

No Docker engine runs here, so the Dockerfile is checked for what can be checked without one.
The install uses no network: the dependencies come from the project's own environment.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_parses_and_has_what_the_issue_asks() -> None:
    steps = _instructions()
    known = {"FROM", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "ENV", "ARG"}
    assert all(word in known for word, _ in steps), steps
    assert steps[0][0] == "FROM" and "-slim" in steps[0][1] and "python:3.1" in steps[0][1]
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    for package in ("openssh-client", "git", "mariadb-client"):
        assert package in shlex.split(runs), package
    assert "pip install --no-cache-dir ." in runs
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = [rest for word, rest in steps if word == "ENTRYPOINT"]
    assert entry == ['["reconciler"]']
    copied = [rest.split()[0] for word, rest in steps if word == "COPY"]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the project"


def test_pip_install_into_a_fresh_venv_gives_the_console_script(tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies: those of this environment, without any download
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr
    script = target / "bin" / "reconciler"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "validate" in done.stdout and "schema" in done.stdout
    where = subprocess.run(
        [str(python), "-c", "import reconciler; print(reconciler.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(site), "the installed copy, not the source tree, is imported"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "from reconciler.observe.probe import probe_script as p; print(len(p()))",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert probe.returncode == 0 and int(probe.stdout) > 1000, probe.stderr
    assert sys.prefix != str(target)
