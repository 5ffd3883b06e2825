"""OHLCV bars from TradeV2 rows, exact in decimals. Pure pyarrow, no AWS.

open/close follow trade time, ties broken by the exchange trade id; volume and quote volume
are exact decimal sums; VWAP is quote volume / volume, rounded half-even to the price scale
(computed per bar in Python: Arrow's decimal division overflows 38 digits here, and there are
few bars).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa
import pyarrow.compute as pc

from k2.domain.instrument_columns import instrument_labels

INTERVALS = {"1s": "1 second", "1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes",
             "1h": "1 hour", "1d": "1 day"}  # fmt: skip
_UNITS = {"second": "second", "minute": "minute", "minutes": "minute", "hour": "hour",
          "day": "day"}  # fmt: skip


def ohlcv(trades: pa.Table, interval: str = "1m") -> pa.Table:
    """Bars per (instrument, bar start), sorted by instrument then time. The `symbol` of a bar
    is its instrument label (k2.domain.instrument): the bare symbol on spot, `usdm:BTCUSDT`
    for USD-M, so two markets' trades never share a bar."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    count, unit = INTERVALS[interval].split()
    ordered = trades.sort_by(
        [("symbol", "ascending"), ("timestamp", "ascending"), ("source_sequence", "ascending")]
    )
    bar_start = pc.floor_temporal(ordered["timestamp"], multiple=int(count), unit=_UNITS[unit])
    quote = pc.multiply(ordered["price"], ordered["quantity"])
    table = pa.table(
        {
            "symbol": instrument_labels(ordered),
            "bar_start": bar_start,
            "row": pa.array(range(ordered.num_rows), pa.int64()),
            "price": ordered["price"],
            "quantity": ordered["quantity"],
            "quote": quote,
        }
    )
    # Rows are in trade order, so a bar's open/close are its first/last row (Arrow has no
    # first/last kernel for decimals).
    grouped = table.group_by(["symbol", "bar_start"], use_threads=False).aggregate(
        [
            ("row", "min"),
            ("price", "max"),
            ("price", "min"),
            ("row", "max"),
            ("quantity", "sum"),
            ("quote", "sum"),
            ("price", "count"),
        ]
    )
    bars = pa.table(
        {
            "symbol": grouped["symbol"],
            "bar_start": grouped["bar_start"],
            "open": ordered["price"].take(grouped["row_min"]),
            "high": grouped["price_max"],
            "low": grouped["price_min"],
            "close": ordered["price"].take(grouped["row_max"]),
            "volume": grouped["quantity_sum"],
            "quote_volume": grouped["quote_sum"],
            "trades": grouped["price_count"],
        }
    )
    return bars.append_column("vwap", _vwap(bars, ordered.schema.field("price").type)).sort_by(
        [("symbol", "ascending"), ("bar_start", "ascending")]
    )


def _vwap(bars: pa.Table, price_type: pa.Decimal128Type) -> pa.Array:
    quantum = Decimal(1).scaleb(-price_type.scale)
    values = [
        (quote / volume).quantize(quantum, rounding=ROUND_HALF_EVEN)
        for quote, volume in zip(
            bars["quote_volume"].to_pylist(), bars["volume"].to_pylist(), strict=True
        )
    ]
    return pa.array(values, price_type)
