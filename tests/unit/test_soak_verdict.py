"""The soak's arithmetic: fresh id ranges per run, and when a run passes."""

from __future__ import annotations

import pytest

from k2.lake.reconcile import SymbolReport
from k2.soak import SOAK_SYMBOL, LoadStep, Thresholds, expected_trades, run_base_id, verdict

pytestmark = pytest.mark.unit
CLEAN = SymbolReport(SOAK_SYMBOL, expected=200, landed_rows=200, landed_distinct=200,
                     missing=0, duplicated=0, unexpected=0)  # fmt: skip
CALM = {"iterator_age_ms": 900.0, "normalize_duration_ms": 400.0, "connector_memory_pct": None}


def test_load_steps_continue_one_contiguous_id_range():
    base = run_base_id(1_723_161_255)
    steps = [LoadStep(base, step, 100) for step in range(3)]
    assert [(s.first_id, s.last_id) for s in steps] == [
        (base, base + 99), (base + 100, base + 199), (base + 200, base + 299)
    ]  # fmt: skip


def test_two_runs_a_second_apart_never_share_an_id():
    biggest_run_last = LoadStep(run_base_id(1_723_161_255), step=99, trades=1_000_000).last_id
    assert biggest_run_last < run_base_id(1_723_161_256)
    assert run_base_id(2**63 // 10**8 - 1) < 2**63  # signed 64-bit trade ids hold


def test_a_run_larger_than_the_id_budget_is_refused():
    with pytest.raises(ValueError, match="at most"):
        LoadStep(run_base_id(1_723_161_255), step=100, trades=1_000_000)


def test_expected_trades_lists_every_id_of_the_range():
    table = expected_trades(SOAK_SYMBOL, 10, 14)
    assert table["source_id"].to_pylist() == [10, 11, 12, 13, 14]
    assert set(table["symbol"].to_pylist()) == {SOAK_SYMBOL}


def test_a_clean_run_within_bounds_passes():
    judged = verdict(CLEAN, [CALM, CALM], Thresholds())
    assert judged.ok
    assert judged.worst == {"iterator_age_ms": 900.0, "normalize_duration_ms": 400.0,
                            "connector_memory_pct": None}  # fmt: skip


def test_loss_duplicates_and_strays_each_fail_the_run():
    report = SymbolReport(SOAK_SYMBOL, expected=200, landed_rows=203, landed_distinct=198,
                          missing=3, duplicated=5, unexpected=1)  # fmt: skip
    judged = verdict(report, [CALM], Thresholds())
    assert not judged.ok
    assert judged.reasons == ["3 trades missing", "5 trades duplicated", "1 trades unexpected"]


def test_a_metric_past_its_bound_is_a_regression():
    slow = {**CALM, "iterator_age_ms": 200_000.0}
    judged = verdict(CLEAN, [CALM, slow], Thresholds(iterator_age_ms=60_000))
    assert judged.reasons == ["iterator_age_ms reached 200,000, above 60,000"]


def test_a_run_without_samples_or_trades_fails():
    empty = SymbolReport(SOAK_SYMBOL, 0, 0, 0, 0, 0, 0)
    assert verdict(empty, [], Thresholds()).reasons == [
        "the run sent no trades", "no metric samples were taken"
    ]  # fmt: skip


def test_thresholds_come_from_the_schedule_input_and_reject_unknown_names():
    assert Thresholds.from_input({"iterator_age_ms": 5}).iterator_age_ms == 5.0
    assert Thresholds.from_input(None) == Thresholds()
    with pytest.raises(ValueError, match="unknown thresholds"):
        Thresholds.from_input({"latency": 1})
