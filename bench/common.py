"""Shared benchmark plumbing: environment facts, repeated samples, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def environment() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": commit,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summarize(samples: list[float], better: str) -> dict[str, Any]:
    """Repeated samples of one metric; `better` ("higher" or "lower") tells
    scripts/performance_baseline.py which way a change is a regression."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    return {
        "better": better,
        "samples": [round(s, 3) for s in samples],
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


def check(name: str, value: float, target: float, higher_is_better: bool) -> dict[str, Any]:
    passed = value >= target if higher_is_better else value <= target
    relation = ">=" if higher_is_better else "<="
    print(f"  {'PASS' if passed else 'FAIL'}  {name}: {value:,.1f} (target {relation} {target:,})")
    return {"value": round(value, 3), "target": target, "pass": passed}


def reset_peak_rss() -> None:
    """Start a new peak-RSS window for this process (Linux: writing 5 to clear_refs resets
    VmHWM to the current RSS), so each benchmark reports its own peak, not an earlier one's."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last reset_peak_rss()."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def repeat(times: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(times)]


def write(name: str, body: dict[str, Any]) -> Path:
    """bench/results/<name>.json: the environment, the body, and this benchmark process's
    peak RSS (since start or the last reset_peak_rss())."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"environment": environment(), **body, "peak_rss_mb": peak_rss_mb()}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"  wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
