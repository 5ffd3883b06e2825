"""What `k2` exits with, and the one line it prints when something is wrong.

Exit codes (README, "Exit codes"): 0 ok; 1 a data problem (nothing matched, trades missing,
a query the service could not answer); 2 a usage problem (a bad flag or value: click's own,
and a query the service refused as the user's); 3 the environment (no server at the URL, no
AWS region, a port in use). Every message says what happened and what to do about it, on one
line, prefixed with the command: `k2 query trades: cannot reach http://... (connection
refused); start it with `k2 local up`, or pass --url`.
"""

from __future__ import annotations

from typing import IO, Any

import click

DATA, USAGE, ENVIRONMENT = 1, 2, 3


class K2Error(click.ClickException):
    """A failure the user can act on: shown as one line, exits with `exit_code`."""

    exit_code = DATA

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"k2 {self.command}: {self.message}", file=file, err=True)


class DataProblem(K2Error):
    exit_code = DATA


class UsageProblem(K2Error):
    exit_code = USAGE


class EnvironmentProblem(K2Error):
    exit_code = ENVIRONMENT
