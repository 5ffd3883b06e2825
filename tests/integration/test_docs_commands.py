"""Every `k2` command the README and docs show, in their fenced shell blocks: each one parses
(its subcommand, flags and values exist), and the ones that answer from a lake - queries,
the lake's ledger and stats, cost - run, against a small lake, and exit 0.

Commands that only run long or need the network (`k2 run`, `k2 local up`, `k2 soak`,
`k2 record`) are parsed here and run by their own tests (test_k2_run, test_local_up,
test_k2_soak; `record` needs Binance)."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from k2.adapters.iceberg.committer import TradesCommitter
from k2.binance.generator import generate_frames
from k2_devtools.cli.main import k2
from k2_devtools.cli.main import main as k2_main
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.function_url import FunctionUrlServer
from query import handler as query_function
from tests.support.docs import ROOT, code_blocks
from tests.support.events import normalize_frames

pytestmark = pytest.mark.integration
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
EXECUTED = ("query", "lake completeness", "lake stats", "lake commit", "cost")


def documented_commands() -> list[tuple[str, list[str]]]:
    """(document, argv after `k2`) of every `.venv/bin/k2 ...` line in a shell block."""
    commands = []
    for document in DOCUMENTS:
        for block in code_blocks(document, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words and words[0] == ".venv/bin/k2":
                    commands.append((document, words[1:]))
    return commands


COMMANDS = documented_commands()


def parsed(argv: list[str]) -> click.Context:
    """The context click would run `k2 argv` in, without running it."""
    command: click.Command = k2
    name, context, args = "k2", None, list(argv)
    while True:
        context = command.make_context(name, args, parent=context)
        if not isinstance(command, click.Group):
            return context
        found, sub, args = command.resolve_command(
            context, [*context._protected_args, *context.args]
        )
        assert sub is not None
        assert found is not None
        command, name = sub, found


def test_the_docs_show_the_commands_a_user_needs():
    shown = {" ".join(argv[:2]) for _, argv in COMMANDS}
    assert {"run --replay", "local up", "query ohlcv", "query sql", "lake completeness"} <= shown
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize(("document", "argv"), COMMANDS, ids=[" ".join(a) for _, a in COMMANDS])
def test_every_documented_command_parses(document, argv):
    try:
        parsed(argv)
    except click.UsageError as error:
        pytest.fail(f"{document}: k2 {shlex.join(argv)}: {error.format_message()}")


@pytest.fixture
def documented_lake(server_lake, tmp_path) -> Iterator[str]:
    """Generated BTCUSDT and ETHUSDT trades of 2024-08-08 (the days the docs query), committed,
    behind a function URL; the working directory is a scratch one for the files they write."""
    frames = [f.frame for f in generate_frames(["BTCUSDT", "ETHUSDT"], 1_500, seed=2)]
    normalize_frames(frames)
    TradesCommitter(server_lake).run()
    query_function.close_engines()
    server = FunctionUrlServer(query_function.lambda_handler, "query")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        with scoped_environment({"QUERY_ENGINE": "local"}), server:
            yield server.url
    finally:
        os.chdir(cwd)


def test_the_documented_query_lake_and_cost_commands_run(documented_lake, capsys):
    ran = []
    for document, argv in COMMANDS:
        if not " ".join(argv).startswith(EXECUTED):
            continue
        args = [re.sub(r"^http://127\.0\.0\.1:\d+$", documented_lake, word) for word in argv]
        if argv[0] == "query" and "--url" not in args:
            args += ["--url", documented_lake]  # the docs export K2_QUERY_URL for these
        code = k2_main(args)
        assert code == 0, f"{document}: k2 {shlex.join(argv)}: {capsys.readouterr().err}"
        ran.append(argv[:2])
    assert len(ran) >= 10
    assert Path("bars.html").stat().st_size > 1_000_000  # the documented --chart wrote a page
