"""One query plan per spec, in Athena's (Trino) dialect, with every value a bound parameter.

Only schema column names, placeholders and validated integers are interpolated into the
text (hence the S608 waivers); user values travel as parameters. The same text runs on Athena
(`?` execution parameters) and, transpiled by sqlglot, on DuckDB locally. The logical table
`trades` is the deduplicated union of the Iceberg table and staging rows not yet compacted;
each engine maps that name to its own relation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from k2.domain import schema
from k2.domain.query.spec import (
    EPOCH,
    INTERVAL_SECONDS,
    FreshnessQuery,
    LatestQuery,
    OhlcvQuery,
    QuerySpec,
    SqlQuery,
    SymbolsQuery,
    TradesQuery,
)
from k2.domain.query.sql_guard import capped, guard_select

MAX_SQL_ROWS = 100_000


@dataclass(frozen=True)
class Scope:
    """Which rows the plan can possibly read: lets an engine prune before SQL runs (the local
    engine filters the Iceberg scan and the staging dataset; Athena prunes on its own)."""

    symbols: tuple[str, ...] = ()  # empty: every symbol
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
            return Plan(_SYMBOLS, (), Scope(columns=("symbol", "timestamp")))
        case FreshnessQuery():
            return Plan(_FRESHNESS, (), Scope(columns=_FRESHNESS_COLUMNS))
        case SqlQuery():
            return Plan(capped(guard_select(spec.sql), MAX_SQL_ROWS).sql(dialect="trino"), ())
    raise TypeError(f"not a query spec: {spec!r}")


def _columns() -> str:
    return ", ".join(f'"{name}"' for name in schema.field_names())


def _trades(spec: TradesQuery) -> Plan:
    params: list[Any] = [spec.symbol, spec.time.start, spec.time.end]
    after = ""
    if spec.cursor:
        after = ' AND ("timestamp" > ? OR ("timestamp" = ? AND source_sequence > ?))'
        position = _from_us(spec.cursor.timestamp_us)
        params += [position, position, spec.cursor.source_sequence]
    # LIMIT is an int the spec validated (1..10,000): Trino takes no parameter there.
    sql = (
        f'SELECT {_columns()} FROM trades WHERE symbol = ? AND "timestamp" >= ? '  # noqa: S608
        f'AND "timestamp" < ?{after} ORDER BY "timestamp", source_sequence '
        f"LIMIT {int(spec.limit) + 1}"
    )
    return Plan(sql, tuple(params), Scope((spec.symbol,), spec.time.start, spec.time.end))


def _ohlcv(spec: OhlcvQuery) -> Plan:
    seconds = INTERVAL_SECONDS[spec.interval]  # from the enum, not from the request
    order = 'ROW("timestamp", source_sequence)'  # trade time, ties by exchange trade id
    # price * quantity widened first: exact at scale 16 on both engines (DuckDB would keep
    # the product in 18 digits and overflow).
    sql = (
        f'SELECT symbol, from_unixtime(floor(to_unixtime("timestamp") / {seconds}) * {seconds})'  # noqa: S608
        f" AS bar_start, min_by(price, {order}) AS open, max(price) AS high, min(price) AS low,"
        f" max_by(price, {order}) AS close, sum(quantity) AS volume,"
        f" sum(CAST(price AS DECIMAL(38, 8)) * quantity) AS quote_volume, count(*) AS trades"
        f" FROM trades WHERE symbol IN ({', '.join('?' for _ in spec.symbols)})"
        f' AND "timestamp" >= ? AND "timestamp" < ? GROUP BY 1, 2 ORDER BY 1, 2'
    )
    scope = Scope(spec.symbols, spec.time.start, spec.time.end, _OHLCV_COLUMNS)
    return Plan(sql, (*spec.symbols, spec.time.start, spec.time.end), scope)


def _latest(spec: LatestQuery) -> Plan:
    where = f"WHERE symbol IN ({', '.join('?' for _ in spec.symbols)}) " if spec.symbols else ""
    sql = (
        f"SELECT {_columns()} FROM (SELECT {_columns()}, row_number() OVER (PARTITION BY symbol"  # noqa: S608
        f' ORDER BY "timestamp" DESC, source_sequence DESC) AS recency FROM trades {where})'
        f' WHERE recency <= {int(spec.limit)} ORDER BY symbol, "timestamp" DESC,'
        f" source_sequence DESC"
    )
    return Plan(sql, tuple(spec.symbols), Scope(spec.symbols))


_OHLCV_COLUMNS = ("symbol", "timestamp", "source_sequence", "price", "quantity")
_FRESHNESS_COLUMNS = ("symbol", "timestamp", "ingestion_timestamp")
_SYMBOLS = (
    'SELECT symbol, min("timestamp") AS first_trade, max("timestamp") AS last_trade,'
    " count(*) AS trades FROM trades GROUP BY symbol ORDER BY symbol"
)
_FRESHNESS = (
    'SELECT symbol, max("timestamp") AS last_trade, max(ingestion_timestamp) AS last_ingested'
    " FROM trades GROUP BY symbol ORDER BY symbol"
)


def _from_us(timestamp_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=timestamp_us)
