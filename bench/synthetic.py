"""Synthetic TradeV2 rows at benchmark scale (millions), built column-wise with numpy: the
frame path (generator -> parser) is measured elsewhere and would dominate these set-ups."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.domain import schema

START = datetime(2024, 8, 8, tzinfo=UTC)


def tradev2_rows(
    count: int, symbols: list[str], seed: int = 7, trades_per_second: int = 50,
    first_id: int = 1_000_000_000,
) -> pa.Table:  # fmt: skip
    """`count` trades spread evenly over `symbols`, `trades_per_second` each, from START."""
    rng = np.random.default_rng(seed)
    symbol_index = np.arange(count) % len(symbols)
    sequence = np.arange(count) // len(symbols) + first_id
    start_us = int(START.timestamp() * 1_000_000)
    timestamps = start_us + (sequence - first_id) * (1_000_000 // trades_per_second)
    price_units = 6_000_000_000_000 + np.cumsum(rng.integers(-100_000, 100_001, count))
    quantity_units = rng.integers(1_000, 50_000_000, count)
    ids = pa.array(sequence).cast(pa.string())
    symbol = pa.DictionaryArray.from_arrays(pa.array(symbol_index, pa.int32()),
                                            pa.array(symbols)).cast(pa.string())  # fmt: skip
    columns = {
        "message_id": pc.binary_join_element_wise(
            "00000000-0000-8000-8000-", pc.utf8_lpad(ids, 12, "0"), ""),
        "trade_id": pc.binary_join_element_wise("BINANCE-", ids, ""),
        "symbol": symbol,
        "exchange": pa.array(np.full(count, "BINANCE")),
        "asset_class": pa.array(np.full(count, "crypto")),
        "timestamp": pa.array(timestamps, pa.timestamp("us", tz="UTC")),
        "price": _decimal(price_units),
        "quantity": _decimal(quantity_units),
        "currency": pa.array(np.full(count, "USDT")),
        "side": pa.array(np.where(rng.random(count) < 0.5, "BUY", "SELL")),
        "trade_conditions": pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, np.int32)), pa.array([], pa.string())),
        "source_sequence": pa.array(sequence, pa.int64()),
        "ingestion_timestamp": pa.array(timestamps + 50_000, pa.timestamp("us", tz="UTC")),
        "platform_sequence": pa.nulls(count, pa.int64()),
        "vendor_data": pa.nulls(count, pa.map_(pa.string(), pa.string())),
    }  # fmt: skip
    return pa.table(columns).cast(schema.arrow_schema())


def _decimal(units: np.ndarray) -> pa.Array:
    """decimal(18,8) from unscaled integers (value = units / 1e8), without Python objects."""
    wide = np.zeros((len(units), 2), dtype=np.int64)
    wide[:, 0] = units
    wide[:, 1] = np.where(units < 0, -1, 0)
    buffers = [None, pa.py_buffer(wide.tobytes())]
    return pa.Array.from_buffers(pa.decimal128(18, 8), len(units), buffers)
