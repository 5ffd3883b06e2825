"""Benchmark baselines: create one from bench/results/*.json, check new results against it,
or report the comparison.

    python -m scripts.performance_baseline create [--results bench/results] [--out FILE]
    python -m scripts.performance_baseline check  [--baseline FILE] [--results DIR] [--json]
    python -m scripts.performance_baseline report [--baseline FILE] [--results DIR]

A metric is any object in a results file with repeated `samples` and a `better` direction
(bench.common.summarize writes them). A regression is a median worse than the baseline's by
more than --threshold (20%) AND significant under an exact one-sided Mann-Whitney test on
the two sample sets (p < --alpha, 0.05): one noisy sample cannot fail a build. With fewer than three
samples on either side a change is reported as "not enough samples", never as a regression.

Exit codes: 0 no significant regression (or report), 1 regression, 2 unusable input.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "bench" / "results"
DEFAULT_BASELINE = ROOT / "bench" / "baseline.json"
MIN_SAMPLES = 3
EXACT_LIMIT = 20_000  # enumerate every split up to this many; sample this many beyond it


class InputError(Exception):
    """A file is missing or not benchmark JSON (exit 2)."""


@dataclass(frozen=True)
class Metric:
    samples: list[float]
    better: str  # "higher" | "lower"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Comparison:
    metric: str
    baseline_median: float | None  # None: the metric is new
    current_median: float | None  # None: the metric is missing from the results
    change: float  # relative; positive = better
    p_value: float | None
    verdict: str  # "ok" | "improved" | "regression" | "not enough samples" | "new" | "missing"


def metrics(results_dir: Path) -> dict[str, Metric]:
    """Every metric of every results file, keyed `<file>.<path.to.metric>`."""
    files = sorted(results_dir.glob("*.json"))
    if not files:
        raise InputError(f"no benchmark results (*.json) in {results_dir}")
    found: dict[str, Metric] = {}
    for path in files:
        try:
            body = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: not JSON ({error})") from error
        for name, node in _walk(body, path.stem):
            found[name] = Metric([float(s) for s in node["samples"]], node["better"])
    return found


def _walk(node: Any, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("samples"), list) and node.get("better") in ("higher", "lower"):
            yield name, node
            return
        for key, value in node.items():
            yield from _walk(value, f"{name}.{key}")


def regression_p_value(baseline: Sequence[float], current: Sequence[float], better: str) -> float:
    """Exact one-sided Mann-Whitney test: the share of all relabellings of the pooled samples
    whose U statistic (pairs where the current sample is worse, ties half) is at least the
    observed one. Rank-based, so one outlier moves it by one pair, not by its size."""
    sign = 1.0 if better == "higher" else -1.0

    def u_statistic(base: Sequence[float], now: Sequence[float]) -> float:
        return sum(1.0 if sign * (b - c) > 0 else 0.5 if b == c else 0.0 for b in base for c in now)

    observed = u_statistic(baseline, current)
    pooled = [*baseline, *current]
    as_extreme = total = 0
    for chosen in _splits(len(pooled), len(baseline)):
        picked = set(chosen)
        base = [pooled[i] for i in chosen]
        now = [pooled[i] for i in range(len(pooled)) if i not in picked]
        as_extreme += u_statistic(base, now) >= observed
        total += 1
    return as_extreme / total


def _splits(pooled: int, size: int) -> Iterator[tuple[int, ...]]:
    if math.comb(pooled, size) <= EXACT_LIMIT:
        yield from itertools.combinations(range(pooled), size)
        return
    rng = random.Random(0)  # deterministic: the same inputs always give the same verdict
    for _ in range(EXACT_LIMIT):
        yield tuple(sorted(rng.sample(range(pooled), size)))


def compare(
    baseline: dict[str, Metric], current: dict[str, Metric], threshold: float, alpha: float
) -> list[Comparison]:
    comparisons = []
    for name in sorted(set(baseline) | set(current)):
        if name not in current:
            comparisons.append(Comparison(name, baseline[name].median, None, 0.0, None, "missing"))
            continue
        if name not in baseline:
            comparisons.append(Comparison(name, None, current[name].median, 0.0, None, "new"))
            continue
        before, now = baseline[name], current[name]
        sign = 1.0 if before.better == "higher" else -1.0
        change = sign * (now.median - before.median) / before.median if before.median else 0.0
        if len(before.samples) < MIN_SAMPLES or len(now.samples) < MIN_SAMPLES:
            verdict, p_value = "not enough samples", None
        else:
            p_value = regression_p_value(before.samples, now.samples, before.better)
            if change < -threshold and p_value < alpha:
                verdict = "regression"
            else:
                verdict = "improved" if change > threshold else "ok"
        comparisons.append(Comparison(name, before.median, now.median, change, p_value, verdict))
    return comparisons


def load_baseline(path: Path) -> dict[str, Metric]:
    if not path.is_file():
        raise InputError(f"no baseline at {path}; create one with `create`")
    body = json.loads(path.read_text())
    return {name: Metric(**metric) for name, metric in body["metrics"].items()}


def create(results: Path, out: Path) -> int:
    found = metrics(results)
    body = {"metrics": {name: asdict(metric) for name, metric in sorted(found.items())}}
    out.write_text(json.dumps(body, indent=2) + "\n")
    print(f"baseline of {len(found)} metrics from {results} written to {out}")
    return 0


def render(comparisons: list[Comparison]) -> str:
    lines = [f"{'metric':<58}{'baseline':>12}{'now':>12}{'change':>9}{'p':>7}  verdict"]
    for c in comparisons:
        p_value = "-" if c.p_value is None else f"{c.p_value:.3f}"
        lines.append(f"{c.metric:<58}{_number(c.baseline_median):>12}{_number(c.current_median):>12}"
                     f"{c.change:>+9.1%}{p_value:>7}  {c.verdict}")  # fmt: skip
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="performance_baseline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["create", "check", "report"])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--out", type=Path, help="create: where to write (default --baseline)")
    parser.add_argument("--threshold", type=float, default=0.20)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            return create(args.results, args.out or args.baseline)
        comparisons = compare(load_baseline(args.baseline), metrics(args.results),
                              args.threshold, args.alpha)  # fmt: skip
    except InputError as error:
        print(f"performance_baseline: {error}", file=sys.stderr)
        return 2
    regressions = [c for c in comparisons if c.verdict == "regression"]
    if args.json:
        print(json.dumps({"regressions": len(regressions),
                          "comparisons": [asdict(c) for c in comparisons]}))  # fmt: skip
    else:
        print(render(comparisons))
        print(f"{len(regressions)} significant regression(s) beyond {args.threshold:.0%}")
    return 1 if regressions and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
