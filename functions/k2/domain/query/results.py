"""Engine output -> what users get: pages with cursors, bars with VWAP, lag, JSON/CSV/Parquet.

Both engines return an Arrow table for the same plan; everything after that is shared, so
Athena and the local engine give byte-identical answers for identical rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from k2.domain import schema
from k2.domain.query.planner import MAX_SQL_ROWS
from k2.domain.query.spec import (
    EPOCH,
    Cursor,
    FreshnessQuery,
    OhlcvQuery,
    QuerySpec,
    SqlQuery,
    TradesQuery,
)

PRICE_QUANTUM = Decimal("0.00000001")  # TradeV2 prices are decimal(18,8)
FORMATS = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


_TIME = pa.timestamp("us", tz="UTC")
_PRICE = pa.decimal128(18, 8)
# The columns and types of each kind's answer, whatever the engine or the data: a Parquet
# answer has the same schema on every page and for every symbol (`sql` answers keep the
# engine's types: their columns are the user's).
RESULT_SCHEMAS = {
    "trades": schema.arrow_schema(),
    "latest": schema.arrow_schema(),
    "ohlcv": pa.schema([
        ("market", pa.string()), ("symbol", pa.string()), ("bar_start", _TIME),
        ("open", _PRICE), ("high", _PRICE), ("low", _PRICE), ("close", _PRICE),
        ("volume", pa.decimal128(38, 8)), ("quote_volume", pa.decimal128(38, 16)),
        ("trades", pa.int64()), ("vwap", _PRICE),
    ]),
    "symbols": pa.schema([
        ("market", pa.string()), ("symbol", pa.string()), ("first_trade", _TIME),
        ("last_trade", _TIME), ("trades", pa.int64()),
    ]),
    "freshness": pa.schema([
        ("market", pa.string()), ("symbol", pa.string()), ("last_trade", _TIME),
        ("last_ingested", _TIME), ("lag_seconds", pa.float64()),
    ]),
}  # fmt: skip


@dataclass
class QueryResult:
    kind: str
    rows: list[dict[str, Any]]
    columns: list[str]
    next_cursor: str | None = None
    truncated: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    table: pa.Table | None = None  # the rows as Arrow, in RESULT_SCHEMAS[kind]'s types


def shape(spec: QuerySpec, table: pa.Table, now: datetime | None = None) -> QueryResult:
    kind = type(spec).__name__.removesuffix("Query").lower()
    result = QueryResult(kind, [], list(table.column_names))
    if isinstance(spec, TradesQuery) and table.num_rows > spec.limit:
        table = table.slice(0, spec.limit)
        last = table.slice(spec.limit - 1).to_pylist()[0]
        position = Cursor(_micros(last["timestamp"]), last["exchange"], last["source_sequence"])
        result.next_cursor = position.encode()
    elif isinstance(spec, SqlQuery) and table.num_rows > MAX_SQL_ROWS:
        table = table.slice(0, MAX_SQL_ROWS)
        result.truncated = True
    if isinstance(spec, OhlcvQuery):
        sums = zip(table["quote_volume"].to_pylist(), table["volume"].to_pylist(), strict=True)
        table = table.append_column("vwap", pa.array([vwap(q, v) for q, v in sums], _PRICE))
    elif isinstance(spec, FreshnessQuery):
        moment = now or datetime.now(UTC)
        lags = [round((moment - _utc(last)).total_seconds(), 3)
                for last in table["last_trade"].to_pylist()]  # fmt: skip
        table = table.append_column("lag_seconds", pa.array(lags, pa.float64()))
    if kind in RESULT_SCHEMAS:
        table = table.cast(RESULT_SCHEMAS[kind])
    result.rows, result.columns, result.table = table.to_pylist(), table.column_names, table
    return result


def vwap(quote_volume: Decimal | None, volume: Decimal | None) -> Decimal | None:
    """Quote volume / volume, rounded half-even to the price scale (as k2.domain.bars does)."""
    if quote_volume is None or not volume:
        return None
    return (Decimal(quote_volume) / Decimal(volume)).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)


def render(result: QueryResult, output: str) -> bytes:
    if output == "json":
        body = {"query": result.kind, "columns": result.columns, "rows": result.rows,
                "count": len(result.rows), "next_cursor": result.next_cursor,
                "truncated": result.truncated, **result.meta}  # fmt: skip
        return orjson.dumps(body, default=_json_value, option=orjson.OPT_UTC_Z)
    if output == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=result.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in result.rows)
        return text.getvalue().encode()
    if output == "parquet":
        sink = io.BytesIO()
        pq.write_table(result.table if result.table is not None else pa.table({}), sink)
        return sink.getvalue()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: never a binary float
    if isinstance(value, datetime):  # subclasses, e.g. pandas.Timestamp from Athena results
        return _utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=_json_value).decode()
    return value


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _micros(moment: datetime) -> int:
    delta = _utc(moment) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
