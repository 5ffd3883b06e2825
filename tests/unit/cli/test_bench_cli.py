"""`k2 bench`: which benchmarks it accepts and how it finds every target check in a result."""

from __future__ import annotations

import pytest

from k2_devtools.cli.bench import _checks
from k2_devtools.cli.main import main

pytestmark = pytest.mark.unit


def test_an_unknown_benchmark_is_refused_before_anything_runs(capsys):
    assert main(["bench", "normalize", "nope"]) == 2
    assert "no benchmark nope" in capsys.readouterr().err


def test_checks_are_found_wherever_a_benchmark_nests_them():
    passed = {"value": 0.8, "target": 1.0, "pass": True}
    missed = {"value": 8.9, "target": 10, "pass": False}
    result = {
        "environment": {"python": "3.12"},
        "bytes_per_trade": passed,
        "commit": {"rows_per_s": missed, "seconds": 20.2},
        "samples": [1, 2, 3],
    }
    assert dict(_checks(result)) == {"bytes_per_trade": passed, "commit.rows_per_s": missed}
