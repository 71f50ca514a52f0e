"""The `reconciler` command line: the group, error handling and exit codes.

Exit codes: 0 success; 1 any error (invalid manifests, unreadable repository, a usage error);
2 only where a command documents it (`plan --detailed-exitcode`: changes pending).
"""

from __future__ import annotations

import sys

import click

from reconciler import __version__
from reconciler.cli.aliases_cmd import aliases
from reconciler.cli.apply_cmd import apply
from reconciler.cli.backup_cmd import backup, backups
from reconciler.cli.compare_cmd import compare
from reconciler.cli.demo_cmd import demo
from reconciler.cli.import_cmd import import_cmd
from reconciler.cli.login_cmd import login
from reconciler.cli.observe_cmd import observe
from reconciler.cli.options import global_options
from reconciler.cli.plan_cmd import plan
from reconciler.cli.restore_cmd import restore
from reconciler.cli.run_cmd import run
from reconciler.cli.schema_cmd import schema
from reconciler.cli.status_cmd import status
from reconciler.cli.validate_cmd import validate
from reconciler.errors import ReconcilerError
from reconciler.logs import configure_logging

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@global_options
def cli() -> None:
    """Converge Drupal hosting (servers, platforms, sites) to what a git repository declares.

    Global options are accepted before or after the command name.
    """


cli.add_command(validate)
cli.add_command(schema)
cli.add_command(observe)
cli.add_command(status)
cli.add_command(plan)
cli.add_command(apply)
cli.add_command(backup)
cli.add_command(backups)
cli.add_command(restore)
cli.add_command(login)
cli.add_command(compare)
cli.add_command(run)
cli.add_command(demo)
cli.add_command(aliases)
cli.add_command(import_cmd)


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its code; errors are messages, never tracebacks."""
    configure_logging(None)  # until --log-format says otherwise: JSON unless on a terminal
    try:
        code = cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        # a usage error must not look like "changes pending" (2) to CI
        sys.exit(1)
    except ReconcilerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
