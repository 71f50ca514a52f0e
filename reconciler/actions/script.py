"""Steps and the POSIX shell scripts they run: pure builders, no I/O.

A step is one shell script sent on **stdin** to `sh -s` on its server, wrapped in `flock` when it
holds a lock. Content that may carry a secret (settings.php, SQL with a password) is written
through a quoted here-document inside that script, so that it never appears on a command line
(the server's `ps` shows `sh -s` only). Every argument that came from a manifest is quoted with
`quote_argv`; the script's own syntax is written here.

The script of a step runs its `check` first, under the lock: when the check exits 0 the step is
already done and the script says so with the `SKIPPED` marker; otherwise the body runs with
`set -eu` and says `DONE` at the end. The executor reads the marker: a script that ends without
one failed, whatever its exit status says.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reconciler.transport.base import CommandResult, quote_argv

__all__ = [
    "DONE",
    "LOCK_TIMEOUT",
    "SKIPPED",
    "Script",
    "Step",
    "Transfer",
    "lock_name",
    "q",
    "render_step",
    "step_argv",
    "stream_argv",
]

DONE = "@@reconciler-step-done@@"
SKIPPED = "@@reconciler-step-skipped@@"
LOCK_TIMEOUT = 1800
"""Seconds a step waits for its lock (a remote command of a killed run may still hold it)."""


def q(*argv: str) -> str:
    """One quoted command line."""
    return quote_argv(argv)


def lock_name(kind: Literal["site", "platform", "server"], name: str) -> str:
    """A lock file name: the object's kind and a name safe as a file name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return f"{kind}-{safe}.lock"


class Script:
    """A shell script built line by line; every argument quoted."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def run(self, *argv: str) -> Script:
        self.lines.append(q(*argv))
        return self

    def raw(self, text: str) -> Script:
        """A line of the project's own shell syntax (never manifest values unquoted)."""
        self.lines.append(text)
        return self

    def write_file(self, path: str, content: str, mode: str) -> Script:
        """Write `content` to `path` atomically (a temporary file beside it, then a rename),
        with `mode`; the content travels in a quoted here-document, never on a command line."""
        token = "RECONCILER_EOF_" + _random.token_hex(12)
        while token in content:  # pragma: no cover - 96 random bits
            token = "RECONCILER_EOF_" + _random.token_hex(12)
        tmp = path + ".reconciler-tmp"
        body = content if content.endswith("\n") else content + "\n"
        self.lines.append(f"rm -f {q(tmp)}")
        self.lines.append(f"cat > {q(tmp)} <<'{token}'\n{body}{token}")
        self.lines.append(q("chmod", mode, tmp))
        self.lines.append(q("mv", "-f", tmp, path))
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _valid(result: CommandResult) -> str | None:
    return None


@dataclass(frozen=True)
class Step:
    """One step of an action.

    `script` is the body (shell); `check` a shell condition that exits 0 when the step is already
    done (None: the step always runs, and is written to be idempotent). `on` names the server it
    runs on: the action's web server, or the site's database server. `lock` is the lock file held
    while it runs (None: no lock). `expect` reads the result of a step that ran and returns an
    error message (or None): for steps whose success is more than an exit status. `undo` is run
    when a later step of the action fails, newest first, where an honest undo exists. `secrets`
    are removed from anything kept of the output.
    """

    name: str
    script: str
    check: str | None = None
    on: str = "web"
    lock: str | None = None
    undo: str | None = None
    timeout: float = 1800.0
    secrets: tuple[str, ...] = ()
    expect: Callable[[CommandResult], str | None] = field(default=_valid, compare=False)
    explain: Callable[[CommandResult], str | None] = field(default=_valid, compare=False)
    """For a step that failed: the error in the user's words (e.g. nginx's own lines), or None
    for the default (the last line of its output)."""


@dataclass(frozen=True)
class Transfer:
    """A step that streams data from one server to another through the controller: the
    `source_script` writes it to stdout on `source_on` (a site's dump, a tar of its files), the
    `script` reads it on stdin on `on`. `rewrite` transforms the stream line by line on the way
    (a clone's `sites/<old>` paths). Scripts travel in argv here (stdin carries the data), so
    they must hold no secret: drush reads credentials from settings.php on each side.

    `check` and `undo` run on `on`, like a `Step`'s."""

    name: str
    source_on: str
    source_script: str
    script: str
    on: str = "web"
    check: str | None = None
    lock: str | None = None
    source_lock: str | None = None
    undo: str | None = None
    timeout: float = 6 * 3600.0
    rewrite: Callable[[bytes], bytes] | None = field(default=None, compare=False)
    secrets: tuple[str, ...] = ()

    def as_step(self, body: str) -> Step:
        """A plain step on the destination (for the check and the undo)."""
        return Step(
            name=self.name,
            script=body,
            check=self.check,
            on=self.on,
            lock=self.lock,
            undo=self.undo,
            secrets=self.secrets,
        )


def render_step(step: Step, *, undo: bool = False) -> str:
    """The whole script sent on stdin: the check, then the body, with the markers."""
    body = step.undo if undo else step.script
    if body is None:
        raise ValueError(f"step {step.name} has no undo")
    lines = ["set -eu", "umask 077"]
    if step.check is not None and not undo:
        lines.append(f"if (\n{step.check}\n) >/dev/null 2>&1; then echo {SKIPPED}; exit 0; fi")
    lines.append(body.rstrip("\n"))
    lines.append(f"echo {DONE}")
    return "\n".join(lines) + "\n"


def stream_argv(script: str, lock: str | None, timeout: int = LOCK_TIMEOUT) -> list[str]:
    """A streaming side of a `Transfer`: `script` run by `sh -c` (stdin/stdout are the data),
    under `lock` when given."""
    body = "set -eu\numask 077\n" + script
    if lock is None:
        return ["sh", "-c", body]
    if "/" in lock or lock.startswith("."):
        raise ValueError(f"not a lock name: {lock!r}")
    wrapper = (
        'd="$HOME/.reconciler/locks" && mkdir -p "$d" && chmod 700 "$HOME/.reconciler" "$d" && '
        f'exec flock -o -w {int(timeout)} "$d/"{q(lock)} sh -c "$0"'
    )
    return ["sh", "-c", wrapper, body]


def step_argv(lock: str | None, timeout: int = LOCK_TIMEOUT) -> list[str]:
    """The command that runs a step script read from stdin, holding `lock` when given.

    Locks are files under `~/.reconciler/locks/` on the server (outside every site and codebase:
    nothing of ours goes into a site). `flock` waits up to `timeout` seconds, so a resumed step
    waits for a remote command of a killed run that still holds the lock. `-o`: the script does
    not inherit the lock's descriptor, so a daemon it starts (PHP's built-in server) never keeps
    the lock held; flock itself holds it until the script ends."""
    if lock is None:
        return ["sh", "-s"]
    if "/" in lock or lock.startswith("."):
        raise ValueError(f"not a lock name: {lock!r}")
    wrapper = (
        'd="$HOME/.reconciler/locks" && mkdir -p "$d" && chmod 700 "$HOME/.reconciler" "$d" && '
        f'exec flock -o -w {int(timeout)} "$d/"{q(lock)} sh -s'
    )
    return ["sh", "-c", wrapper]


def joined(commands: Sequence[Sequence[str]]) -> str:
    return " && ".join(q(*c) for c in commands)
