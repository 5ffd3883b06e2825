"""One query plan per spec, in Athena's (Trino) dialect, with every value a bound parameter.

Only schema column names, placeholders and validated integers are interpolated into the
text (hence the S608 waivers); user values travel as parameters. The same text runs on Athena
(`?` execution parameters) and, transpiled by sqlglot, on DuckDB locally. The logical table
`trades` is the deduplicated union of the Iceberg table and staging rows not yet compacted;
each engine maps that name to its own relation.

A trade's market is its TradeV2 `exchange` (k2.domain.instrument): plans filter on it, group
and partition by it beside the symbol, and report it as a `market` column, so BTCUSDT spot and
the BTCUSDT perpetual are two lines, never one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from k2.domain import schema
from k2.domain.instrument import EXCHANGE_BY_MARKET
from k2.domain.query.spec import (
    EPOCH,
    INTERVAL_SECONDS,
    FreshnessQuery,
    LatestQuery,
    Markets,
    OhlcvQuery,
    QuerySpec,
    SqlQuery,
    SymbolsQuery,
    TimeRange,
    TradesQuery,
)
from k2.domain.query.sql_guard import capped, guard_select

MAX_SQL_ROWS = 100_000


@dataclass(frozen=True)
class Scope:
    """Which rows the plan can possibly read: lets an engine prune before SQL runs (the local
    engine filters the Iceberg scan and the staging dataset; Athena prunes on its own)."""

    symbols: tuple[str, ...] = ()  # empty: every symbol
    exchanges: tuple[str, ...] = ()  # TradeV2 exchanges (one per market); empty: every one
    start: datetime | None = None
    end: datetime | None = None
    columns: tuple[str, ...] = ()  # the TradeV2 columns the SQL reads; empty: all of them


@dataclass(frozen=True)
class Plan:
    sql: str  # Athena (Trino) dialect, `?` placeholders
    params: tuple[Any, ...]
    scope: Scope = Scope()


def plan(spec: QuerySpec) -> Plan:
    match spec:
        case TradesQuery():
            return _trades(spec)
        case OhlcvQuery():
            return _ohlcv(spec)
        case LatestQuery():
            return _latest(spec)
        case SymbolsQuery():
            return _per_instrument(_SYMBOLS, spec.markets, ("exchange", "symbol", "timestamp"))
        case FreshnessQuery():
            return _per_instrument(_FRESHNESS, spec.markets, _FRESHNESS_COLUMNS)
        case SqlQuery():
            return Plan(capped(guard_select(spec.sql), MAX_SQL_ROWS).sql(dialect="trino"), ())
    raise TypeError(f"not a query spec: {spec!r}")


def _columns() -> str:
    return ", ".join(f'"{name}"' for name in schema.field_names())


def _exchanges(markets: Markets) -> tuple[str, ...]:
    return tuple(EXCHANGE_BY_MARKET[market] for market in markets)


def _in(count: int) -> str:
    return f"({', '.join('?' for _ in range(count))})"


def every_trade(markets: Markets, symbols: tuple[str, ...], time: TimeRange) -> Plan:
    """Every trade of `symbols` (empty: all) on `markets` in the range, ordered by
    instrument, time and id: no page limit (the notebook API, k2_devtools.notebook)."""
    exchanges = _exchanges(markets)
    where = f"exchange IN {_in(len(exchanges))}"
    if symbols:
        where += f" AND symbol IN {_in(len(symbols))}"
    sql = (
        f'SELECT {_columns()} FROM trades WHERE {where} AND "timestamp" >= ?'  # noqa: S608
        f' AND "timestamp" < ? ORDER BY exchange, symbol, "timestamp", source_sequence'
    )
    scope = Scope(symbols, exchanges, time.start, time.end)
    return Plan(sql, (*exchanges, *symbols, time.start, time.end), scope)


def _trades(spec: TradesQuery) -> Plan:
    exchanges = _exchanges(spec.markets)
    params: list[Any] = [*exchanges, spec.symbol, spec.time.start, spec.time.end]
    after = ""
    if spec.cursor:
        after = (
            ' AND ("timestamp" > ? OR ("timestamp" = ? AND (exchange > ?'
            " OR (exchange = ? AND source_sequence > ?))))"
        )
        position = _from_us(spec.cursor.timestamp_us)
        exchange = spec.cursor.exchange
        params += [position, position, exchange, exchange, spec.cursor.source_sequence]
    # LIMIT is an int the spec validated (1..10,000): Trino takes no parameter there.
    sql = (
        f"SELECT {_columns()} FROM trades WHERE exchange IN {_in(len(exchanges))}"  # noqa: S608
        f' AND symbol = ? AND "timestamp" >= ? AND "timestamp" < ?{after}'
        f' ORDER BY "timestamp", exchange, source_sequence LIMIT {int(spec.limit) + 1}'
    )
    scope = Scope((spec.symbol,), exchanges, spec.time.start, spec.time.end)
    return Plan(sql, tuple(params), scope)


def _ohlcv(spec: OhlcvQuery) -> Plan:
    seconds = INTERVAL_SECONDS[spec.interval]  # from the enum, not from the request
    order = 'ROW("timestamp", source_sequence)'  # trade time, ties by exchange trade id
    # price * quantity widened first: exact at scale 16 on both engines (DuckDB would keep
    # the product in 18 digits and overflow).
    exchanges = _exchanges(spec.markets)
    columns: tuple[str, ...] = _OHLCV_COLUMNS
    market_trades_only = ""
    if spec.trades == "market" and spec.markets != ("spot",):
        # Futures trades carry Binance's `X`; spot trades have none and are all market trades.
        market_trades_only = (
            " AND coalesce(element_at(vendor_data, 'execution_type'), 'MARKET') = 'MARKET'"
        )
        columns = (*columns, "vendor_data")
    sql = (
        f"SELECT {_MARKET} AS market, symbol,"  # noqa: S608
        f' from_unixtime(floor(to_unixtime("timestamp") / {seconds}) * {seconds})'
        f" AS bar_start, min_by(price, {order}) AS open, max(price) AS high, min(price) AS low,"
        f" max_by(price, {order}) AS close, sum(quantity) AS volume,"
        f" sum(CAST(price AS DECIMAL(38, 8)) * quantity) AS quote_volume, count(*) AS trades"
        f" FROM trades WHERE exchange IN {_in(len(exchanges))}"
        f" AND symbol IN {_in(len(spec.symbols))}"
        f' AND "timestamp" >= ? AND "timestamp" < ?{market_trades_only}'
        f" GROUP BY 1, 2, 3 ORDER BY 2, 1, 3"
    )
    scope = Scope(spec.symbols, exchanges, spec.time.start, spec.time.end, columns)
    return Plan(sql, (*exchanges, *spec.symbols, spec.time.start, spec.time.end), scope)


def _latest(spec: LatestQuery) -> Plan:
    exchanges = _exchanges(spec.markets)
    where = f"WHERE exchange IN {_in(len(exchanges))}"
    if spec.symbols:
        where += f" AND symbol IN {_in(len(spec.symbols))}"
    sql = (
        f"SELECT {_columns()} FROM (SELECT {_columns()}, row_number() OVER (PARTITION BY"  # noqa: S608
        f' exchange, symbol ORDER BY "timestamp" DESC, source_sequence DESC) AS recency'
        f" FROM trades {where}) WHERE recency <= {int(spec.limit)}"
        f' ORDER BY symbol, exchange, "timestamp" DESC, source_sequence DESC'
    )
    return Plan(sql, (*exchanges, *spec.symbols), Scope(spec.symbols, exchanges))


def _per_instrument(aggregates: str, markets: Markets, columns: tuple[str, ...]) -> Plan:
    """One row per instrument of the chosen markets: its market, symbol and `aggregates`."""
    exchanges = _exchanges(markets)
    sql = (
        f"SELECT {_MARKET} AS market, symbol, {aggregates} FROM trades"  # noqa: S608
        f" WHERE exchange IN {_in(len(exchanges))} GROUP BY 1, 2 ORDER BY 2, 1"
    )
    return Plan(sql, exchanges, Scope(exchanges=exchanges, columns=columns))


# The market of a row, from its exchange; only names from k2.domain.instrument go in.
_MARKET = (
    "CASE exchange "
    + " ".join(
        f"WHEN '{exchange}' THEN '{market}'" for market, exchange in EXCHANGE_BY_MARKET.items()
    )
    + " END"
)
_OHLCV_COLUMNS = ("exchange", "symbol", "timestamp", "source_sequence", "price", "quantity")
_FRESHNESS_COLUMNS = ("exchange", "symbol", "timestamp", "ingestion_timestamp")
_SYMBOLS = 'min("timestamp") AS first_trade, max("timestamp") AS last_trade, count(*) AS trades'
_FRESHNESS = 'max("timestamp") AS last_trade, max(ingestion_timestamp) AS last_ingested'


def _from_us(timestamp_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=timestamp_us)
