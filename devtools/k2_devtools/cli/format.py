"""What several subcommands print the same way: per-symbol reconciliation tables, progress
lines, comma lists and recording arguments."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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


def format_symbols(reports: list[SymbolReport]) -> str:
    lines = [
        f"{'symbol':<14}{'expected':>10}{'landed':>10}{'missing':>9}{'dup':>6}{'unexpected':>12}"
    ]
    for s in reports:
        lines.append(f"{s.symbol:<14}{s.expected:>10,}{s.landed_rows:>10,}{s.missing:>9,}"
                     f"{s.duplicated:>6,}{s.unexpected:>12,}")  # fmt: skip
    return "\n".join(lines)


class ProgressLine:
    """One updating line on a terminal; a line every 2 s otherwise (CI logs)."""

    def __init__(self) -> None:
        self._interactive = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not self._interactive and not finished and now - self._last < 2:
            return
        self._last = now
        line = f"  {stage:<12} {done:>10,} / {total:,}"
        print(("\r" + line) if self._interactive else line, end="", file=sys.stderr, flush=True)
        if not self._interactive or finished:
            print(file=sys.stderr)
