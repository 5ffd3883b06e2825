"""The soak's arithmetic: fresh id ranges per run, when a run passes, and the local soak's
loops (shifted ids, reconciliation without storing what was sent, the memory slope)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from k2.domain.lake.reconcile import SymbolReport
from k2.domain.soak import (
    SOAK_SYMBOL,
    LoadStep,
    LoopedSource,
    Thresholds,
    expected_trades,
    memory_slope_mb_per_hour,
    reconcile_loops,
    run_base_id,
    shift_trade_ids,
    verdict,
)

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


# --- the local soak's loop arithmetic ----------------------------------------------------------


def trades_table(ids: dict[str, range]) -> pa.Table:
    symbols = [s for s, r in ids.items() for _ in r]
    return pa.table({"symbol": symbols, "source_id": [i for r in ids.values() for i in r]})


def landed_table(ids: dict[str, list[int]]) -> pa.Table:
    symbols = [s for s, r in ids.items() for _ in r]
    return pa.table({"symbol": symbols, "source_sequence": [i for r in ids.values() for i in r]})


LOOP = LoopedSource.of(trades_table({"BTCUSDT": range(100, 110), "ETHUSDT": range(500, 504)}))


def test_each_cycle_continues_every_symbols_ids_without_a_gap():
    assert LOOP.counts == {"BTCUSDT": 10, "ETHUSDT": 4}
    assert [LOOP.offsets(c) for c in range(3)] == [
        {"BTCUSDT": 0, "ETHUSDT": 0}, {"BTCUSDT": 10, "ETHUSDT": 4}, {"BTCUSDT": 20, "ETHUSDT": 8}
    ]  # fmt: skip


def test_only_trade_frames_get_shifted_ids_by_their_symbols_offset():
    btc = b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":100,"p":"1"}}'
    eth = b'{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":500,"p":"1"}}'
    ticker = b'{"stream":"btcusdt@bookTicker","data":{"u":100,"s":"BTCUSDT","t":100}}'
    offsets = LOOP.offsets(2)
    assert b'"t":120' in shift_trade_ids(btc, offsets)
    assert b'"t":508' in shift_trade_ids(eth, offsets)
    assert shift_trade_ids(ticker, offsets) == ticker


def test_every_id_of_every_cycle_once_reconciles_clean():
    landed = landed_table({"BTCUSDT": list(range(100, 120)), "ETHUSDT": list(range(500, 508))})
    reports = reconcile_loops(LOOP, cycles=2, landed=landed)
    assert [(r.expected, r.missing, r.duplicated, r.unexpected) for r in reports] == [
        (20, 0, 0, 0), (8, 0, 0, 0)
    ]  # fmt: skip


def test_loss_duplicates_and_ids_outside_the_cycles_are_each_counted():
    landed = landed_table(
        {
            "BTCUSDT": [*range(100, 109), 105, 130],  # 109 lost, 105 twice, 130 stray
            "ETHUSDT": [500, 501, 502, 503, 504],
        }
    )  # 504: a second cycle never run
    btc, eth = reconcile_loops(LOOP, cycles=1, landed=landed)
    assert (btc.missing, btc.duplicated, btc.unexpected) == (1, 1, 1)
    assert (eth.missing, eth.duplicated, eth.unexpected) == (0, 0, 1)


def test_a_source_with_a_hole_in_its_ids_cannot_be_looped():
    with pytest.raises(ValueError, match="not contiguous"):
        LoopedSource.of(trades_table({"BTCUSDT": range(1, 4), "ETHUSDT": range(7, 12, 2)}))


def test_the_memory_slope_ignores_warm_up_and_reads_in_mb_per_hour():
    warm_up = [(0.0, 100.0), (10.0, 300.0)]
    steady = [(float(t), 300.0 + t / 3600 * 12) for t in range(100, 3700, 100)]
    assert memory_slope_mb_per_hour(warm_up + steady) == pytest.approx(12.0)
    assert memory_slope_mb_per_hour([]) == 0.0
