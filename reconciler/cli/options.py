"""Global options, accepted before or after the command name, and the shared `--format` option.

`reconciler --repo x validate` and `reconciler validate --repo x` mean the same; a value given after
the command wins over one given before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.logs import configure_logging
from reconciler.manifests.source import SourceSpec

__all__ = ["GlobalOptions", "format_option", "global_options", "pass_globals"]

_KEY = "reconciler.globals"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class GlobalOptions:
    repo: str = "."
    branch: str | None = None
    rev: str | None = None
    worktree: bool = False
    path: str = ""
    state: str | None = None
    ssh_key: str | None = None
    known_hosts: str | None = None
    log_format: str | None = None
    """`console`, `json`, or None: console lines on a terminal, JSON lines otherwise."""

    def source(self, cache_dir: Path | None = None) -> SourceSpec:
        return SourceSpec(
            repo=self.repo,
            branch=self.branch,
            rev=self.rev,
            path=self.path,
            worktree=self.worktree,
            cache_dir=cache_dir,
        )


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None or value is False:
        return value
    values: dict[str, Any] = ctx.find_root().meta.setdefault(_KEY, {})
    if param.name is not None:
        values[param.name] = value
    return value


def _opt(*decls: str, **kwargs: Any) -> Callable[[F], F]:
    kwargs.setdefault("callback", _store)
    return click.option(*decls, expose_value=False, **kwargs)


def _log_format(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Stored like the others, and applied at once: the last one given wins."""
    if value is not None:
        configure_logging(value)
    return _store(ctx, param, value)


_OPTIONS: list[Callable[[F], F]] = [
    _opt("--repo", metavar="PATH|URL", help="Git repository of manifests (default: .)."),
    _opt("--branch", metavar="NAME", help="Branch to read (default: the repository's default)."),
    _opt("--rev", metavar="REV", help="Commit, tag or branch to read (default: the branch head)."),
    _opt("--worktree", is_flag=True, default=False, help="Read the checkout's files as they are."),
    _opt("--path", metavar="DIR", help="Manifests directory inside the repository."),
    _opt("--state", metavar="PATH|postgresql://...", help="The journal store."),
    _opt("--ssh-key", metavar="FILE", help="SSH private key (default: ~/.ssh and the agent)."),
    _opt("--known-hosts", metavar="FILE", help="known_hosts file for host key checks."),
    _opt(
        "--log-format",
        type=click.Choice(["console", "json"]),
        callback=_log_format,
        help="Log lines on stderr as text or JSON (default: text on a terminal, else JSON).",
    ),
]


def global_options(func: F) -> F:
    """Add every global option to a command or group."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def current_globals(ctx: click.Context) -> GlobalOptions:
    values: dict[str, Any] = ctx.find_root().meta.get(_KEY, {})
    return GlobalOptions(**values)


def pass_globals(func: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the merged `GlobalOptions` as the command's first argument."""

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(func, current_globals(ctx), *args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def format_option(*choices: str) -> Callable[[F], F]:
    names = choices or ("text", "json")
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(names)),
        default=names[0],
        show_default=True,
        help="Output format.",
    )
