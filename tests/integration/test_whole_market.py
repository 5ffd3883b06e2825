"""Whole-market capture through `k2 run`: many symbols over several connections, one record and
one staging file for many symbols, one commit, and a reconciliation by the completeness ledger
that finds every trade exactly once."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.cli import K2

pytestmark = [pytest.mark.integration]


def k2_run(symbols: int, trades_per_symbol: int) -> dict:
    names = ",".join(f"S{i:04d}USDT" for i in range(symbols))
    result = subprocess.run(
        [*K2, "run", "--symbols", names, "--trades-per-symbol", str(trades_per_symbol), "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.stdout, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert result.returncode == 0, (report["stopped"], result.stderr[-3000:])
    return report


def assert_every_trade_once(report: dict, symbols: int, trades_per_symbol: int) -> None:
    """In staging, and in the Iceberg table where the endpoint has a Glue catalog."""
    assert report["ok"] is True
    for stage in ("symbols", "lake_symbols"):
        if report[stage] is None:  # GLUE_CATALOG=off (LocalStack host mode): no table
            continue
        assert len(report[stage]) == symbols
        for symbol in report[stage]:
            assert symbol["expected"] == symbol["landed_distinct"] == symbol["landed_rows"]
            assert symbol["expected"] == trades_per_symbol


@pytest.mark.timeout(240)
def test_six_hundred_symbols_over_two_connections_land_exactly_once():
    report = k2_run(600, 4)
    assert_every_trade_once(report, 600, 4)
    assert report["objects"]["staging"] <= 2 * report["event_source"]["invocations"]
    if report["lake"] is not None:
        assert report["lake"]["committed_rows"] == 600 * 4
        assert report["lake"]["files"] == 1  # one day, one commit: one file, not one per symbol


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fifteen_hundred_symbols_by_a_hundred_trades_land_exactly_once():
    report = k2_run(1_500, 100)
    assert_every_trade_once(report, 1_500, 100)
    assert report["kinesis"]["frames"] / report["kinesis"]["records"] >= 50
    assert report["objects"]["staging"] <= 2 * report["event_source"]["invocations"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_whole_market_preset_lands_exactly_once():
    result = subprocess.run([*K2, "run", "--preset", "whole-market", "--json"],
                            capture_output=True, text=True, timeout=540, check=False)  # fmt: skip
    report = json.loads(result.stdout)
    assert result.returncode == 0, (report["stopped"], result.stderr[-3000:])
    assert report["ok"] is True
    landed = report["lake_symbols"] or report["symbols"]  # staging without a Glue catalog
    assert len(landed) > 1_000
    assert all(s["missing"] == s["duplicated"] == s["unexpected"] == 0 for s in landed)
    assert report["kinesis"]["frames"] / report["kinesis"]["records"] >= 50
