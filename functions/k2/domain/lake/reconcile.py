"""Compare a lake with its source, per symbol: expected, landed, missing, duplicated,
unexpected. `k2 run` and `k2 lake verify` report this; any difference is a failure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.domain.lake.completeness import IdRanges, held_by_symbol


@dataclass
class SymbolReport:
    symbol: str
    expected: int
    landed_rows: int
    landed_distinct: int
    missing: int
    duplicated: int
    unexpected: int


def reconcile(expected_trades: pa.Table, landed: pa.Table) -> list[SymbolReport]:
    """Compare source trade ids with lake rows, per symbol (spot trade ids: source_sequence)."""
    reports = []
    symbols = sorted(set(expected_trades["symbol"].to_pylist()) | set(landed["symbol"].to_pylist()))
    for symbol in symbols:
        want = _ids(expected_trades, "source_id", symbol)
        rows = _ids_list(landed, "source_sequence", symbol)
        have = set(rows)
        reports.append(
            SymbolReport(
                symbol=symbol,
                expected=len(want),
                landed_rows=len(rows),
                landed_distinct=len(have),
                missing=len(want - have),
                duplicated=len(rows) - len(have),
                unexpected=len(have - want),
            )
        )
    return reports


def _ids_list(table: pa.Table, column: str, symbol: str) -> list[int]:
    mask = pc.equal(table["symbol"], symbol)
    return table.filter(mask)[column].to_pylist()


def _ids(table: pa.Table, column: str, symbol: str) -> set[int]:
    return set(_ids_list(table, column, symbol))


def reconcile_ledger(expected_trades: pa.Table, ledger: pa.Table) -> list[SymbolReport]:
    """The same comparison against the completeness ledger instead of the rows: id ranges per
    symbol, so a whole-market run is checked in seconds without reading the table back."""
    held = held_by_symbol(ledger)
    symbols = sorted(set(expected_trades["symbol"].to_pylist()) | set(held))
    empty = (0, IdRanges.of(np.empty(0, np.int64)))
    reports = []
    for symbol in symbols:
        want = np.unique(np.asarray(_ids_list(expected_trades, "source_id", symbol), np.int64))
        rows, ranges = held.get(symbol, empty)
        found = int(ranges.holds(want).sum())
        reports.append(
            SymbolReport(
                symbol=symbol,
                expected=int(want.size),
                landed_rows=rows,
                landed_distinct=ranges.distinct,
                missing=int(want.size) - found,
                duplicated=rows - ranges.distinct,
                unexpected=ranges.distinct - found,
            )
        )
    return reports
