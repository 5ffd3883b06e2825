"""`k2`: the command-line entry point. Human-readable by default, `--json` for scripts.

Built on click (a well-kept library with help, choices, defaults, completion and exit codes
done right, instead of our own argparse plumbing). Subcommands are listed here by module path
and imported only when used, and each subcommand module imports its implementation (moto,
pyarrow, pyiceberg, the connector) inside the command: `k2 --help` imports none of them.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

# name -> "module:attribute" of a click command, imported on first use.
SUBCOMMANDS = {
    "run": "k2_devtools.cli.run:run",
    "local": "k2_devtools.cli.local:local",
    "query": "k2_devtools.cli.query:query",
    "lake": "k2_devtools.cli.lake:lake",
    "soak": "k2_devtools.cli.soak:soak",
    "bench": "k2_devtools.cli.bench:bench",
    "cost": "k2_devtools.cli.cost:cost",
    "record": "k2_devtools.cli.record:record",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in their own modules, imported on demand."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self._lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup, lazy=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="k2-serverless", prog_name="k2")
def k2() -> None:
    """K2: every Binance trade, normalized to TradeV2, in an Iceberg lake you can query."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run `k2` with `argv` (default: the process's arguments); returns the exit code."""
    try:
        result = k2.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    return int(result or 0)


def console() -> NoReturn:
    """The `k2` executable (and `python -m k2_devtools.cli`): run, then leave the process.

    When pyarrow's S3 filesystem was used, the process ends with os._exit once the output is
    flushed: pyarrow's S3 teardown at interpreter exit intermittently aborts with "terminate
    called without an active exception" (apache/arrow#34314, #39162), which turned a finished
    command's exit code into -6. Every command has closed its files and servers by then.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if "pyarrow._s3fs" in sys.modules:
        os._exit(code)
    sys.exit(code)
