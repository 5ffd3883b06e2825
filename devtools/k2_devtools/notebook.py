"""The lake from a notebook: trades and bars as Arrow tables, one import away.

    from k2_devtools.notebook import open_lake

    lake = open_lake()  # AWS_ENDPOINT_URL's lake (the one `k2 local up` prints), else AWS
    trades = lake.trades("BTCUSDT", start="2024-08-08", end="2024-08-09")  # a pyarrow.Table
    bars = lake.bars(["BTCUSDT", "ETHUSDT"], interval="1m", market="spot")
    trades.to_pandas()            # or polars.from_arrow(bars)
    lake.table()                  # the pyiceberg Table, for pyiceberg, polars or DuckDB

The rows are the query function's: the Iceberg table plus staging rows the committer has not
folded in yet, each trade once (k2.domain.query.relation), read by the same DuckDB engine
`k2 local up` serves and bars computed by the same plan - without the page and bar limits
that protect a shared service, so a whole day of the whole market comes back in one table.
docs/notebooks.md shows this and pyiceberg, DuckDB and polars reading the table directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from k2.adapters.iceberg import trades_catalog
from k2.adapters.query.duckdb_engine import LocalQueryEngine
from k2.config import LakeSettings
from k2.domain import schema
from k2.domain.query.planner import Plan, every_trade, plan
from k2.domain.query.results import shape
from k2.domain.query.spec import OhlcvQuery, TimeRange, instant, markets, symbol
from k2.domain.query.sql_guard import guard_select

Symbols = str | Sequence[str] | None
When = str | int | datetime | None  # ISO 8601 (UTC unless it has an offset), epoch ms
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)
TIMEOUT_S = 3_600.0  # a notebook waits for its answer; the service's 30 s is for sharing


def open_lake(settings: LakeSettings | None = None) -> Lake:
    """The lake of the environment's settings (k2.config.LakeSettings.from_env: the bucket,
    Glue database and AWS_ENDPOINT_URL, if any)."""
    return Lake(settings or LakeSettings.from_env())


class Lake:
    def __init__(self, settings: LakeSettings) -> None:
        self.settings = settings
        self._engine = LocalQueryEngine(settings)

    def trades(self, symbols: Symbols = None, start: When = None, end: When = None,
               market: str = "spot") -> pa.Table:  # fmt: skip
        """Every trade of `symbols` (default: all) on `market` (spot, usdm, coinm, a comma
        list or all) in [start, end), in TradeV2's schema, ordered by instrument, time, id."""
        span = _span(start, end)
        table = self._engine.execute(every_trade(markets(market), _symbols(symbols), span),
                                     TIMEOUT_S)  # fmt: skip
        return table.cast(schema.arrow_schema())

    def bars(self, symbols: Symbols, interval: str = "1m", start: When = None, end: When = None,
             market: str = "spot", trades: str = "market") -> pa.Table:  # fmt: skip
        """OHLCV bars with quote volume, trade count and VWAP, as the query function's ohlcv
        (futures: market trades only unless trades="all"), for any span."""
        chosen = _symbols(symbols)
        if not chosen:
            raise ValueError("bars need at least one symbol")
        spec = OhlcvQuery(chosen, interval, _span(start, end), markets(market), trades)
        table = shape(spec, self._engine.execute(plan(spec), TIMEOUT_S)).table
        assert table is not None
        return table

    def sql(self, query: str) -> pa.Table:
        """One SELECT (Athena/Trino dialect) over `trades`, as the query function's `sql`
        kind checks it, without its 100,000-row cap."""
        return self._engine.execute(Plan(guard_select(query).sql(dialect="trino"), ()), TIMEOUT_S)

    def table(self) -> Any:
        """The `trades` Iceberg table (pyiceberg), for reading it with other tools."""
        return trades_catalog(self.settings).load_table((self.settings.glue_database, "trades"))


def _symbols(value: Symbols) -> tuple[str, ...]:
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(symbol(name) for name in names))


def _span(start: When, end: When) -> TimeRange:
    """[start, end); unbounded on either side when not given."""
    return TimeRange(_when(start, "start", EARLIEST), _when(end, "end", LATEST))


def _when(value: When, name: str, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return instant(str(value), name)
