"""Exactly-once rows: a trade is identified by (exchange, symbol, trade_id)."""

from __future__ import annotations

import pyarrow as pa

TRADE_KEY = ("exchange", "symbol", "trade_id")
SORT_ORDER = [("symbol", "ascending"), ("timestamp", "ascending"), ("source_sequence", "ascending")]


def first_of_each_trade(rows: pa.Table) -> pa.Table:
    """One row per trade key: the earliest Kinesis arrival (a redelivered batch writes the same
    trade into another staging file)."""
    if rows.num_rows == 0:
        return rows
    ordered = rows.sort_by([("ingestion_timestamp", "ascending")])
    indexed = ordered.append_column("_row", pa.array(range(ordered.num_rows), pa.int64()))
    firsts = indexed.group_by(list(TRADE_KEY), use_threads=False).aggregate([("_row", "min")])
    return ordered.take(firsts["_row_min"])


def sorted_for_files(rows: pa.Table) -> pa.Table:
    """Files sorted by symbol then trade time: range scans read few row groups."""
    return rows.sort_by(SORT_ORDER)
