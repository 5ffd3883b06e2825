"""The completeness ledger: per instrument and UTC day, which trade ids the `trades` table holds.

Binance numbers each instrument's trades consecutively, so what a day holds is a handful of id
ranges: rows, distinct ids, first and last id and the missing ranges in between follow from
them. The committer folds every commit into the ledger and commits both together, which makes
the ledger two things at once:
- the duplicate check: a staged trade whose id lies in a held range is already in the table,
  so a commit never reads the table back (its cost grows with the commit, not the table);
- the reconciliation: `k2 run` and `k2 lake verify` compare a source with the ranges in
  seconds instead of reading every row.
A trade without a source id (none from Binance has one) cannot be ledgered; it is kept.
Pure: Arrow tables in and out, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.domain.instrument import MARKET_BY_EXCHANGE, instrument_label

INSTRUMENT_DAY = ("exchange", "symbol", "trade_date")
LEDGER_SCHEMA = pa.schema(
    [
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("trade_date", pa.string()),
        ("rows", pa.int64()),
        ("range_firsts", pa.list_(pa.int64())),
        ("range_lasts", pa.list_(pa.int64())),
    ]
)


@dataclass(frozen=True)
class IdRanges:
    """Disjoint, sorted, non-adjacent [first, last] id ranges."""

    firsts: np.ndarray
    lasts: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray) -> IdRanges:
        """The ranges covering sorted, distinct `ids`."""
        if ids.size == 0:
            return cls(np.empty(0, np.int64), np.empty(0, np.int64))
        breaks = np.flatnonzero(np.diff(ids) > 1)
        return cls(ids[np.r_[0, breaks + 1]], ids[np.r_[breaks, ids.size - 1]])

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Per id, whether a range holds it."""
        if self.firsts.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        index = np.searchsorted(self.firsts, ids, side="right") - 1
        return (index >= 0) & (ids <= self.lasts[np.clip(index, 0, None)])

    def union(self, other: IdRanges) -> IdRanges:
        firsts = np.concatenate([self.firsts, other.firsts])
        lasts = np.concatenate([self.lasts, other.lasts])
        if firsts.size == 0:
            return IdRanges(firsts, lasts)
        order = np.argsort(firsts, kind="stable")
        firsts, lasts = firsts[order], lasts[order]
        reach = np.maximum.accumulate(lasts)
        begins = np.flatnonzero(np.r_[True, firsts[1:] > reach[:-1] + 1])
        return IdRanges(firsts[begins], np.maximum.reduceat(lasts, begins))

    @property
    def distinct(self) -> int:
        return int((self.lasts - self.firsts + 1).sum())

    def missing(self) -> list[tuple[int, int]]:
        """The id ranges between the first and the last id that no range holds."""
        return list(zip((self.lasts[:-1] + 1).tolist(), (self.firsts[1:] - 1).tolist(),
                        strict=True))  # fmt: skip


@dataclass
class Fold:
    ledger: pa.Table  # the instrument-days the rows touched, after the fold (LEDGER_SCHEMA)
    new: np.ndarray  # per row: not in the ledger before (to append to the table)


def fold(ledger: pa.Table, rows: pa.Table) -> Fold:
    """Fold TradeV2 `rows` (one per trade key) into the `ledger` rows of their instrument-days:
    which rows are new, and the ledger rows of the touched days afterwards."""
    held = {
        (day.exchange, day.symbol, day.trade_date): (day.rows, day.ranges)
        for day in _ledger_rows(ledger)
    }
    days = pc.strftime(rows["timestamp"], format="%Y-%m-%d")
    keyed = pa.table({"exchange": rows["exchange"], "symbol": rows["symbol"], "trade_date": days,
                      "id": rows["source_sequence"],
                      "row": pa.array(np.arange(rows.num_rows))})  # fmt: skip
    new = np.ones(rows.num_rows, dtype=bool)
    out: dict[tuple[str, str, str], tuple[int, IdRanges]] = {}
    ordered = keyed.filter(pc.is_valid(keyed["id"])).sort_by(
        [*((name, "ascending") for name in INSTRUMENT_DAY), ("id", "ascending")]
    )
    for key, ids, positions in _groups(ordered):
        count, ranges = held.get(key, (0, IdRanges.of(ids[:0])))
        fresh = ~ranges.holds(ids)
        new[positions[~fresh]] = False
        out[key] = (count + int(fresh.sum()), ranges.union(IdRanges.of(ids[fresh])))
    return Fold(ledger_table(out), new)


def ledger_table(days: dict[tuple[str, str, str], tuple[int, IdRanges]]) -> pa.Table:
    keys = sorted(days)
    return pa.table(
        {
            "exchange": [k[0] for k in keys],
            "symbol": [k[1] for k in keys],
            "trade_date": [k[2] for k in keys],
            "rows": [days[k][0] for k in keys],
            "range_firsts": [days[k][1].firsts.tolist() for k in keys],
            "range_lasts": [days[k][1].lasts.tolist() for k in keys],
        },
        schema=LEDGER_SCHEMA,
    )


@dataclass(frozen=True)
class InstrumentDay:
    """What the table holds of one instrument on one day, as `k2 lake completeness` shows it."""

    exchange: str
    symbol: str
    trade_date: str
    rows: int
    distinct_ids: int
    first_id: int
    last_id: int
    missing_ranges: list[tuple[int, int]]

    @property
    def missing_ids(self) -> int:
        return self.last_id - self.first_id + 1 - self.distinct_ids

    def as_json(self) -> dict[str, object]:
        """Its fields and `missing_ids`, as `k2 lake completeness --json` and the dashboard
        give them."""
        return {**asdict(self), "missing_ids": self.missing_ids}


@dataclass(frozen=True)
class _LedgerRow:
    exchange: str
    symbol: str
    trade_date: str
    rows: int
    ranges: IdRanges


def _ledger_rows(ledger: pa.Table) -> Iterator[_LedgerRow]:
    columns = (ledger[name].to_pylist() for name in LEDGER_SCHEMA.names)
    for exchange, symbol, day, rows, firsts, lasts in zip(*columns, strict=True):
        ranges = IdRanges(np.asarray(firsts, np.int64), np.asarray(lasts, np.int64))
        yield _LedgerRow(exchange, symbol, day, rows, ranges)


def instrument_days(ledger: pa.Table) -> list[InstrumentDay]:
    return [
        InstrumentDay(row.exchange, row.symbol, row.trade_date, row.rows, row.ranges.distinct,
                      int(row.ranges.firsts[0]), int(row.ranges.lasts[-1]), row.ranges.missing())
        for row in _ledger_rows(ledger)
    ]  # fmt: skip


def held_by_instrument(ledger: pa.Table) -> dict[str, tuple[int, IdRanges]]:
    """instrument label (k2.domain.instrument.instrument_label) -> (rows, id ranges) the table
    holds of it over all its days: spot and USD-M BTCUSDT are two instruments, never summed."""
    held: dict[str, tuple[int, IdRanges]] = {}
    for row in _ledger_rows(ledger):
        label = instrument_label(MARKET_BY_EXCHANGE.get(row.exchange, row.exchange), row.symbol)
        rows, ranges = held.get(label, (0, IdRanges.of(np.empty(0, np.int64))))
        held[label] = (rows + row.rows, ranges.union(row.ranges))
    return held


def _groups(ordered: pa.Table) -> Iterator[tuple[tuple[str, str, str], np.ndarray, np.ndarray]]:
    """(instrument-day key, ids, row positions) per group of the sorted table."""
    if ordered.num_rows == 0:
        return
    columns = [ordered[n].to_numpy(zero_copy_only=False) for n in INSTRUMENT_DAY]
    ids = ordered["id"].to_numpy()
    positions = ordered["row"].to_numpy()
    changed = np.zeros(ordered.num_rows, dtype=bool)
    changed[0] = True
    for column in columns:
        changed[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changed)
    ends = np.r_[starts[1:], ordered.num_rows]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        key = (str(columns[0][start]), str(columns[1][start]), str(columns[2][start]))
        yield key, ids[start:end], positions[start:end]
