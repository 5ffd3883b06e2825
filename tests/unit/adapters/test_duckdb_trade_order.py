"""The local engine's OHLCV: open and close follow the trade order (time, then exchange id)
after the plan's ROW order is rewritten into one HUGEINT for DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from k2.adapters.query.duckdb_engine import to_duckdb
from k2.domain.query.planner import plan
from k2.domain.query.spec import parse_request

pytestmark = pytest.mark.unit
T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)


def ohlcv(trades: pa.Table) -> list[dict]:
    spec = parse_request("ohlcv", {"symbols": "BTCUSDT", "interval": "1m",
                                   "start": T0.isoformat(),
                                   "end": (T0 + timedelta(hours=1)).isoformat()})  # fmt: skip
    built = plan(spec)
    connection = duckdb.connect()
    connection.register("trades", trades)
    return (
        connection.sql(to_duckdb(built.sql), params=list(built.params)).to_arrow_table().to_pylist()
    )


def trades(rows: list[tuple[int, int, str]]) -> pa.Table:
    """(microseconds after T0, exchange trade id, price) per trade."""
    return pa.table({
        "exchange": ["BINANCE"] * len(rows),
        "symbol": ["BTCUSDT"] * len(rows),
        "timestamp": pa.array([T0 + timedelta(microseconds=us) for us, _, _ in rows],
                              pa.timestamp("us", tz="UTC")),
        "source_sequence": pa.array([seq for _, seq, _ in rows], pa.int64()),
        "price": pa.array([Decimal(p) for _, _, p in rows], pa.decimal128(18, 8)),
        "quantity": pa.array([Decimal(1)] * len(rows), pa.decimal128(18, 8)),
    })  # fmt: skip


def test_the_duckdb_plan_orders_trades_by_one_number_not_a_struct():
    spec = parse_request("ohlcv", {"symbols": "BTCUSDT", "interval": "1m"})
    sql = to_duckdb(plan(spec).sql)
    assert "AS INT128) * 18446744073709551616 + source_sequence" in sql
    assert "{" not in sql


def test_open_and_close_break_same_time_ties_by_exchange_id():
    (bar,) = ohlcv(trades([(5, 2**62 - 1, "3"), (5, 7, "1"), (9, 8, "5"), (9, 2**61, "4")]))
    assert (bar["open"], bar["close"]) == (Decimal(1), Decimal(4))


def test_time_decides_before_exchange_id():
    (bar,) = ohlcv(trades([(1, 900, "2"), (2, 100, "6")]))
    assert (bar["open"], bar["close"]) == (Decimal(2), Decimal(6))
