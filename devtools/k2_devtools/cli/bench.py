"""`k2 bench`: run the benchmark suite (bench/ in a source checkout), print its figures and
PASS/FAIL lines, and summarize bench/results/*.json; `--json` prints the summary for scripts.

Each benchmark runs in its own process, so one's memory and threads cannot colour another's
figures (peak RSS is per process).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

SUITE = ("normalize", "connector", "lake", "query", "query_load", "partitioning", "market", "cli")
CHECKOUT = Path(__file__).resolve().parents[3]


@click.command(
    help="Runs bench/bench_<name>.py for each benchmark, one process each, then summarizes "
    "their results. Exits 1 if a benchmark fails to run; a missed target is reported, not an "
    "error.",
    short_help="run the benchmarks; print figures and PASS/FAIL, write bench/results/*.json",
)
@click.argument("names", nargs=-1, metavar=f"[{'|'.join(SUITE)}]...")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def bench(names: tuple[str, ...], as_json: bool) -> int:
    if not (CHECKOUT / "bench" / "common.py").exists():
        raise click.UsageError("k2 bench runs from a source checkout (it needs the bench/ folder)")
    unknown = sorted(set(names) - set(SUITE))
    if unknown:
        raise click.BadParameter(
            f"no benchmark {', '.join(unknown)}; choose from {' '.join(SUITE)}",
            param_hint="NAMES",
        )
    chosen = names or SUITE
    for name in chosen:
        output = sys.stderr if as_json else sys.stdout
        print(f"== bench {name}", file=output, flush=True)
        finished = subprocess.run(
            [sys.executable, "-m", f"bench.bench_{name}"],
            cwd=CHECKOUT,
            stdout=output,
            check=False,
        )
        if finished.returncode:
            print(f"bench {name} failed (exit {finished.returncode})", file=sys.stderr)
            return 1
    summary = {name: _summary(name) for name in chosen}
    if as_json:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        passed = sum(c["pass"] for s in summary.values() for c in s["checks"].values())
        total = sum(len(s["checks"]) for s in summary.values())
        print(f"targets met: {passed} of {total} (results in bench/results/)")
    return 0


def _summary(name: str) -> dict[str, Any]:
    result = orjson.loads((CHECKOUT / "bench" / "results" / f"{name}.json").read_bytes())
    return {
        "measured_at": result["environment"]["measured_at"],
        "checks": dict(_checks(result)),
        "peak_rss_mb": result.get("peak_rss_mb"),
    }


def _checks(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every target check in a result, wherever the benchmark nested it."""
    if isinstance(node, dict):
        if {"value", "target", "pass"} <= node.keys():
            yield path, node
            return
        for key, value in node.items():
            yield from _checks(value, f"{path}.{key}" if path else key)
