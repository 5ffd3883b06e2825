"""What several subcommands print the same way: per-symbol reconciliation tables, progress
lines, comma lists and recording arguments."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from k2.domain.lake.reconcile import SymbolReport


def comma_list(text: str) -> list[str]:
    """`"btcusdt, ethusdt,"` -> `["btcusdt", "ethusdt"]`."""
    return [part.strip() for part in text.split(",") if part.strip()]


def existing_files(paths: Sequence[Path]) -> None:
    """Fail with a usage error naming the first recording that does not exist."""
    for path in paths:
        if not path.is_file():
            raise click.UsageError(f"no such recording: {path}")


def text_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows as a plain-text table rendered by rich: the first column left-aligned, the others
    right-aligned, integers with thousands separators; no colour, whatever the terminal."""
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    text = io.StringIO()
    Console(file=text, width=400, color_system=None).print(table)
    return "\n".join(line.rstrip() for line in text.getvalue().splitlines())


def format_symbols(reports: list[SymbolReport]) -> str:
    columns = ("symbol", "expected", "landed", "missing", "dup", "unexpected")
    rows = [(s.symbol, s.expected, s.landed_rows, s.missing, s.duplicated, s.unexpected)
            for s in reports]  # fmt: skip
    return text_table(columns, rows)


class StageProgress:
    """Progress of a run's stages (the pipeline's Progress callback: stage, done, total).

    On a terminal: a rich bar per stage with its rate and time left, and the run's log lines
    printed above the bars, never into them (a RichHandler on the same console). In a log
    (CI, a pipe): a line when a stage starts, every 10 s while it runs, and once when it ends.
    Use as a context manager around the run.
    """

    LOG_EVERY_S = 10.0

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)
        self._interactive = self._console.is_terminal
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_line: dict[str, float] = {}
        self._done: set[str] = set()
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> StageProgress:
        if self._interactive:
            from rich import progress as bars
            from rich.logging import RichHandler

            self._bars = bars.Progress(
                bars.TextColumn("  {task.description:<12}"), bars.BarColumn(),
                bars.MofNCompleteColumn(), bars.TaskProgressColumn(),
                bars.TextColumn("{task.fields[rate]}"), bars.TimeElapsedColumn(),
                bars.TimeRemainingColumn(), console=self._console,
            )  # fmt: skip
            self._bars.start()
            root = logging.getLogger()
            self._handlers = root.handlers[:]
            root.handlers = [RichHandler(console=self._console, show_path=False)]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()
            logging.getLogger().handlers = self._handlers

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage in self._done:
            return  # a stage reports its end once (normalize used to print it twice)
        finished = done >= total
        if finished:
            self._done.add(stage)
        if self._bars is not None:
            self._bar(stage, done, total)
            return
        now = time.monotonic()
        last = self._last_line.get(stage)
        if last is not None and not finished and now - last < self.LOG_EVERY_S:
            return
        self._last_line[stage] = now
        state = "done" if finished else ("started" if last is None else "")
        print(f"  {stage:<12} {done:>12,} / {total:,} {state}".rstrip(), file=sys.stderr,
              flush=True)  # fmt: skip

    def _bar(self, stage: str, done: int, total: int) -> None:
        task = self._tasks.get(stage)
        if task is None:
            task = self._tasks[stage] = self._bars.add_task(stage, total=total, rate="")
        elapsed = self._bars.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0.5 else ""
        self._bars.update(task, completed=done, total=total, rate=rate)
