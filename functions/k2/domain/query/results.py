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


@dataclass
class QueryResult:
    kind: str
    rows: list[dict[str, Any]]
    columns: list[str]
    next_cursor: str | None = None
    truncated: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def shape(spec: QuerySpec, table: pa.Table, now: datetime | None = None) -> QueryResult:
    kind = type(spec).__name__.removesuffix("Query").lower()
    rows = table.to_pylist()
    columns = list(table.column_names)
    result = QueryResult(kind, rows, columns)
    if isinstance(spec, TradesQuery) and len(rows) > spec.limit:
        del rows[spec.limit :]
        last = rows[-1]
        position = Cursor(_micros(last["timestamp"]), last["exchange"], last["source_sequence"])
        result.next_cursor = position.encode()
    elif isinstance(spec, OhlcvQuery):
        for row in rows:
            row["vwap"] = vwap(row["quote_volume"], row["volume"])
        result.columns.append("vwap")
    elif isinstance(spec, FreshnessQuery):
        moment = now or datetime.now(UTC)
        for row in rows:
            row["lag_seconds"] = round((moment - _utc(row["last_trade"])).total_seconds(), 3)
        result.columns.append("lag_seconds")
    elif isinstance(spec, SqlQuery) and len(rows) > MAX_SQL_ROWS:
        del rows[MAX_SQL_ROWS:]
        result.truncated = True
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
        pq.write_table(pa.Table.from_pylist(result.rows), sink)
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
