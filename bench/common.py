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


def repeat(times: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(times)]


def write(name: str, body: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **body}, indent=2) + "\n")
    print(f"  wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
