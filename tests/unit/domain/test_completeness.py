"""The completeness ledger: id ranges per instrument and day, the duplicate check of every
commit and the reconciliation of every run."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from k2.domain.lake.completeness import (
    LEDGER_SCHEMA,
    IdRanges,
    fold,
    held_by_instrument,
    instrument_days,
)

pytestmark = pytest.mark.unit

DAY = datetime(2024, 8, 8, 12, tzinfo=UTC)
NEXT_DAY = datetime(2024, 8, 9, 0, 0, 1, tzinfo=UTC)


def rows(*trades: tuple[str, int] | tuple[str, int, datetime], exchange="BINANCE") -> pa.Table:
    return pa.table(
        {
            "exchange": [exchange] * len(trades),
            "symbol": [t[0] for t in trades],
            "timestamp": pa.array([t[2] if len(t) > 2 else DAY for t in trades],
                                  pa.timestamp("us", tz="UTC")),
            "source_sequence": pa.array([t[1] for t in trades], pa.int64()),
        }
    )  # fmt: skip


def test_ranges_cover_ids_and_merge_when_they_touch():
    ranges = IdRanges.of(np.array([1, 2, 3, 7, 8, 20]))
    assert ranges.firsts.tolist() == [1, 7, 20]
    assert ranges.lasts.tolist() == [3, 8, 20]
    assert ranges.missing() == [(4, 6), (9, 19)]
    assert ranges.distinct == 6
    merged = ranges.union(IdRanges.of(np.array([4, 5, 6, 9])))
    assert (merged.firsts.tolist(), merged.lasts.tolist()) == ([1, 20], [9, 20])
    assert merged.holds(np.array([0, 1, 9, 10, 20, 21])).tolist() == [
        False, True, True, False, True, False,
    ]  # fmt: skip


def test_a_fold_marks_held_ids_as_duplicates_and_records_the_new_ones():
    first = fold(LEDGER_SCHEMA.empty_table(), rows(("BTCUSDT", 1), ("BTCUSDT", 2), ("ETH", 5)))
    assert first.new.tolist() == [True, True, True]
    again = fold(first.ledger, rows(("BTCUSDT", 2), ("BTCUSDT", 3), ("ETH", 5), ("ETH", 4)))
    assert again.new.tolist() == [False, True, False, True]
    days = {d.symbol: d for d in instrument_days(again.ledger)}
    assert (days["BTCUSDT"].rows, days["BTCUSDT"].first_id, days["BTCUSDT"].last_id) == (3, 1, 3)
    assert days["ETH"].missing_ranges == []


def test_markets_and_days_never_share_a_range():
    spot = fold(LEDGER_SCHEMA.empty_table(), rows(("BTCUSDT", 10)))
    futures = fold(spot.ledger, rows(("BTCUSDT", 10), exchange="BINANCE_FUTURES"))
    assert futures.new.tolist() == [True]  # same symbol and id, another market: not a duplicate
    later = fold(spot.ledger, rows(("BTCUSDT", 11, NEXT_DAY)))
    assert [d.trade_date for d in instrument_days(later.ledger)] == ["2024-08-09"]


def test_gaps_show_as_missing_ranges_and_totals_per_symbol():
    trades = rows(("BTCUSDT", 1), ("BTCUSDT", 2), ("BTCUSDT", 6), ("BTCUSDT", 7, NEXT_DAY))
    ledger = fold(LEDGER_SCHEMA.empty_table(), trades).ledger
    (first_day, second_day) = instrument_days(ledger)
    assert (first_day.missing_ranges, first_day.missing_ids) == ([(3, 5)], 3)
    assert second_day.first_id == second_day.last_id == 7
    total, ranges = held_by_instrument(ledger)["BTCUSDT"]
    assert (total, ranges.firsts.tolist(), ranges.lasts.tolist()) == (4, [1, 6], [2, 7])
