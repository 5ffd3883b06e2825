"""A notebook at scale (slow tier): a 10,000,000-trade Iceberg table read whole through the
notebook API, and directly through pyiceberg with DuckDB computing the bars: equal row counts
and equal 1-minute OHLCV for every symbol."""

from __future__ import annotations

import time

import duckdb
import pyarrow as pa
import pytest

from bench.synthetic import tradev2_rows
from k2.adapters.iceberg import ensure_trades_table, trades_catalog
from k2.config import CommitterSettings
from k2_devtools.notebook import open_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.holds_the_lake,
              pytest.mark.timeout(1_200)]  # fmt: skip
ROWS = 10_000_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
BAR_COLUMNS = ["symbol", "bar_start", "open", "high", "low", "close", "volume", "trades"]


def test_ten_million_trades_read_the_same_through_the_api_and_directly(server_lake):
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, CommitterSettings())
    table.append(tradev2_rows(ROWS, SYMBOLS, trades_per_second=30))
    lake = open_lake(server_lake)

    started = time.perf_counter()
    trades = lake.trades(market="spot")
    print(f"api: {trades.num_rows:,} trades in {time.perf_counter() - started:.1f} s")
    assert trades.num_rows == ROWS
    assert trades.schema.field("price").type == pa.decimal128(18, 8)
    del trades
    started = time.perf_counter()
    api_bars = lake.bars(SYMBOLS, interval="1m").select(BAR_COLUMNS)
    print(f"api: {api_bars.num_rows:,} bars in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    read = (
        lake.table()
        .scan(selected_fields=("symbol", "timestamp", "source_sequence", "price", "quantity"))
        .to_arrow()
    )  # pyiceberg, directly: the committed table is all there is here
    assert read.num_rows == ROWS
    bars_sql = duckdb.sql(
        'SELECT symbol, time_bucket(INTERVAL 1 MINUTE, "timestamp") AS bar_start,'
        ' arg_min(price, ("timestamp", source_sequence)) AS open, max(price) AS high,'
        ' min(price) AS low, arg_max(price, ("timestamp", source_sequence)) AS close,'
        " sum(quantity) AS volume, count(*) AS trades FROM read GROUP BY ALL"
        " ORDER BY symbol, bar_start"
    )
    assert bars_sql is not None
    direct = bars_sql.to_arrow_table()
    print(f"pyiceberg + DuckDB: {direct.num_rows:,} bars in {time.perf_counter() - started:.1f} s")
    assert direct.num_rows == api_bars.num_rows
    del read
    for column in BAR_COLUMNS:
        ours, theirs = api_bars[column], direct[column]
        if pa.types.is_timestamp(ours.type):
            theirs = theirs.cast(ours.type)
        elif pa.types.is_decimal(ours.type):
            ours, theirs = ours.cast(pa.string()), theirs.cast(ours.type).cast(pa.string())
        assert ours.to_pylist() == theirs.to_pylist(), column
