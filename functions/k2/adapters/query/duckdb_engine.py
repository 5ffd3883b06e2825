"""The local query engine: the Athena plan, transpiled to DuckDB, over the lake read by pyarrow.

DuckDB's httpfs extension cannot be installed offline, so pyarrow reads S3 (any endpoint) and
DuckDB scans the Arrow dataset. Each query gets its own connection with external access off
and the configuration locked: even SQL that slipped past the guard cannot read files or URLs.
"""

from __future__ import annotations

import functools
import operator
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import sqlglot
from pyarrow import fs
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    In,
    LessThan,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table
from sqlglot import exp

from k2.adapters.iceberg import trades_catalog
from k2.adapters.query.file_cache import DataFileCache
from k2.adapters.staging.reader import s3_filesystem, staging_dataset, staging_row_schema
from k2.config import LakeSettings
from k2.domain import schema
from k2.domain.query.engine import QueryResourceError, QueryTimeoutError
from k2.domain.query.planner import Plan, Scope
from k2.domain.query.relation import source_columns, trades_relation_sql
from k2.domain.query.spec import QueryError

_TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class LocalParquet:
    """Local copies of the committed rows' data files, and the columns to read from them."""

    paths: list[str]
    columns: list[str]


Committed: TypeAlias = pa.Table | ds.Dataset | LocalParquet
# First and last trade time of the staging rows; None when there are none.
TimeSpan: TypeAlias = tuple[datetime, datetime] | None


class LocalQueryEngine:
    """`refresh_s`: how long a look at the lake (the table's current snapshot, the staging
    files) serves queries before the next one looks again. Each look costs a catalog call
    and S3 listings; within a second of it, answers are exact for the lake as it was."""

    def __init__(
        self, lake: LakeSettings, table_name: str = "trades", refresh_s: float = 1.0,
        memory_limit_mb: int | None = None,
    ) -> None:  # fmt: skip
        """`memory_limit_mb`: DuckDB's own limit (its default is 80 % of the machine). No query
        spills to disk: DuckDB's default would fill the working directory's `.tmp` up to 90 %
        of the disk; past its memory a query ends with a clear error instead."""
        self._lake, self._table_name, self._refresh_s = lake, table_name, refresh_s
        self._config: dict[str, Any] = {"threads": 2, "temp_directory": ""}
        if memory_limit_mb:
            self._config["memory_limit"] = f"{memory_limit_mb}MB"
        self._catalog: Catalog | None = None
        self._cache = DataFileCache.from_env()
        self._looked_at = -refresh_s
        self._table: Table | None = None
        self._staged: ds.Dataset | None = None
        self._planned: dict[tuple[int, Scope], list[str]] = {}

    def _look(self) -> None:
        """Load the table and list the staging files again once `refresh_s` has passed."""
        now = time.monotonic()
        if now - self._looked_at < self._refresh_s:
            return
        self._table, self._staged = self._load_table(), self._list_staging()
        self._looked_at = now
        if len(self._planned) > 256:  # plans of snapshots long replaced
            self._planned.clear()

    def _load_table(self) -> Table | None:
        if not self._lake.glue_catalog:
            return None
        self._catalog = self._catalog or trades_catalog(self._lake)
        try:
            return self._catalog.load_table((self._lake.glue_database, self._table_name))
        except NoSuchTableError:
            return None

    def _list_staging(self) -> ds.Dataset | None:
        try:
            return staging_dataset(self._lake)
        except FileNotFoundError:  # nothing has landed yet: an empty lake, not an error
            return None

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        sql = to_duckdb(plan.sql)
        self._look()
        connection = duckdb.connect(config=self._config)
        try:
            staging = self._staging(plan.scope)
            connection.register("staging_rows", staging)
            _attach_committed(connection, self._iceberg(plan.scope), _time_span(staging))
            relation = trades_relation_sql(columns=plan.scope.columns, held="held_rows")
            connection.execute(f"CREATE VIEW trades AS {to_duckdb(relation)}")
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            return _run_with_timeout(connection, sql, list(plan.params), timeout_s)
        finally:
            connection.close()

    def _staging(self, scope: Scope) -> ds.Dataset | pa.Table:
        if self._staged is None:
            return staging_row_schema().empty_table()
        where = _arrow_filter(scope)
        return self._staged if where is None else self._staged.filter(where)

    def _iceberg(self, scope: Scope) -> Committed:
        """The committed rows (empty before the first commit, or without a Glue catalog)."""
        table = self._table
        snapshot = table.current_snapshot() if table is not None else None
        if table is None or snapshot is None:
            return schema.arrow_schema().empty_table()
        key = (snapshot.snapshot_id, scope)
        if key not in self._planned:
            scan = table.scan(row_filter=_iceberg_filter(scope),
                              selected_fields=tuple(source_columns(scope.columns)))  # fmt: skip
            tasks = list(scan.plan_files())
            if any(task.delete_files for task in tasks):
                return scan.to_arrow()  # pyiceberg applies merge-on-read deletes; we write none
            self._planned[key] = [task.file.file_path for task in tasks]
        if not self._planned[key]:
            return schema.arrow_schema().empty_table()
        return self._data_files(self._planned[key], scope)

    def _data_files(self, uris: list[str], scope: Scope) -> Committed:
        """The data files Iceberg planned for the scope, read lazily.

        DuckDB then reads only the columns and row groups the query needs, in a stream, where
        pyiceberg's to_arrow() would first materialize every selected column of every row.
        With the local cache (k2.adapters.query.file_cache), DuckDB's own Parquet reader reads the
        copies, provided every file has every column the scope needs (files written before a
        column was added lack it); otherwise pyarrow reads them with the table's schema.
        """
        s3 = s3_filesystem(self._lake.endpoint_url)
        columns = source_columns(scope.columns)
        if self._cache is not None:
            paths = self._cache.local_paths(uris, s3)
            if all(set(columns) <= set(pq.read_schema(path).names) for path in paths):
                return LocalParquet(paths, columns)
            source: fs.FileSystem = fs.LocalFileSystem()
        else:
            paths = [urlparse(uri)._replace(scheme="").geturl().lstrip("/") for uri in uris]
            source = s3
        dataset = ds.dataset(
            paths, filesystem=source, format="parquet", schema=schema.arrow_schema()
        )
        where = _arrow_filter(scope)
        return dataset if where is None else dataset.filter(where)


def _time_span(staging: pa.Table | ds.Dataset) -> TimeSpan:
    times = staging.to_table(columns=["timestamp"]) if isinstance(staging, ds.Dataset) else staging
    span = pc.min_max(times["timestamp"])
    if span["min"].as_py() is None:
        return None
    return span["min"].as_py(), span["max"].as_py()


def _attach_committed(
    connection: duckdb.DuckDBPyConnection, committed: Committed, span: TimeSpan
) -> None:
    """Make `iceberg_rows` (the committed rows) and `held_rows` (those the duplicate check of
    the staging rows reads) queryable on the connection.

    held_rows is narrowed to the staging rows' time span: the same trade has the same trade
    time, and without it the check would read every committed row of the scope for a few
    fresh ones.
    """
    if isinstance(committed, LocalParquet):
        files = "[" + ", ".join(_sql_text(path) for path in committed.paths) + "]"
        columns = ", ".join(f'"{name}"' for name in committed.columns)
        connection.execute(f"SET allowed_paths = {files}")  # these files, and nothing else
        connection.execute(
            f"CREATE VIEW iceberg_rows AS SELECT {columns} FROM read_parquet({files})"  # noqa: S608 - quoted cache paths, schema column names
        )
        inside = (
            "false"
            if span is None
            else (f'"timestamp" BETWEEN {_sql_time(span[0])} AND {_sql_time(span[1])}')
        )
        held = f"CREATE VIEW held_rows AS SELECT * FROM iceberg_rows WHERE {inside}"  # noqa: S608 - times formatted from the data
        connection.execute(held)
        return
    connection.register("iceberg_rows", committed)
    if span is None:
        connection.register("held_rows", committed.schema.empty_table())
        return
    start, end = (pa.scalar(edge, _TIMESTAMP) for edge in span)
    connection.register(
        "held_rows",
        committed.filter((pc.field("timestamp") >= start) & (pc.field("timestamp") <= end)),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_time(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _arrow_filter(scope: Scope) -> pc.Expression | None:
    clauses = []
    if scope.symbols:
        clauses.append(pc.field("symbol").isin(list(scope.symbols)))
    if scope.exchanges:
        clauses.append(pc.field("exchange").isin(list(scope.exchanges)))
    if scope.start:
        clauses.append(pc.field("timestamp") >= pa.scalar(scope.start, _TIMESTAMP))
    if scope.end:
        clauses.append(pc.field("timestamp") < pa.scalar(scope.end, _TIMESTAMP))
    return functools.reduce(operator.and_, clauses) if clauses else None


def _iceberg_filter(scope: Scope) -> BooleanExpression:
    clauses: list[BooleanExpression] = []
    if scope.symbols:
        clauses.append(In(term=Reference("symbol"), values={literal(s) for s in scope.symbols}))
    if scope.exchanges:
        exchanges = {literal(exchange) for exchange in scope.exchanges}
        clauses.append(In(term=Reference("exchange"), values=exchanges))
    if scope.start:
        clauses.append(GreaterThanOrEqual(term=Reference("timestamp"),
                                          value=literal(scope.start.isoformat())))  # fmt: skip
    if scope.end:
        clauses.append(LessThan(term=Reference("timestamp"), value=literal(scope.end.isoformat())))
    if not clauses:
        return AlwaysTrue()
    return clauses[0] if len(clauses) == 1 else And(*clauses)


def to_duckdb(trino_sql: str) -> str:
    tree = sqlglot.parse_one(trino_sql, read="trino").transform(_trade_order_as_one_number)
    return tree.transform(_widened_decimal_product).sql(dialect="duckdb")


_DECIMAL_COLUMNS = {"price", "quantity"}  # TradeV2's decimal(18, 8) columns
_WIDE_DECIMAL = exp.DataType.build("DECIMAL(38, 8)")


def _widened_decimal_product(node: exp.Expression) -> exp.Expression:
    """A product with a TradeV2 decimal column operand multiplies in 38 digits, as Trino's
    does (decimal(18,8) x decimal(18,8) is decimal(36,16) there): DuckDB keeps the product
    of two decimal(18) values in 18 digits and `sum(price * quantity)` overflowed."""
    if not isinstance(node, exp.Mul):
        return node
    operands = [node.this, node.expression]
    if not any(isinstance(o, exp.Column) and o.name in _DECIMAL_COLUMNS for o in operands):
        return node
    widened = [
        exp.Cast(this=o.copy(), to=_WIDE_DECIMAL.copy())
        if isinstance(o, exp.Column) and o.name in _DECIMAL_COLUMNS
        else o
        for o in operands
    ]
    return exp.Mul(this=widened[0], expression=widened[1])


def _trade_order_as_one_number(node: exp.Expression) -> exp.Expression:
    """ROW("timestamp", source_sequence), the plan's trade order (open and close are
    min_by/max_by over it), becomes epoch_us * 2**64 + source_sequence as a HUGEINT.

    The same order (source ids are below 2**62), but DuckDB compares one 128-bit number
    several times faster than a struct; OHLCV over 10 M trades spends most of its time there.
    """
    if not isinstance(node, (exp.ArgMin, exp.ArgMax)):
        return node
    order = node.expression
    if not (isinstance(order, (exp.Tuple, exp.Struct)) and _is_trade_order(order.expressions)):
        return node
    time_, sequence = order.expressions
    number = sqlglot.parse_one(
        f"CAST(EPOCH_US({time_.sql('duckdb')}) AS HUGEINT) * 18446744073709551616"
        f" + {sequence.sql('duckdb')}",
        read="duckdb",
    )
    return node.__class__(this=node.this, expression=number)


def _is_trade_order(fields: list[exp.Expression]) -> bool:
    names = [field.name if isinstance(field, exp.Column) else None for field in fields]
    return names == ["timestamp", "source_sequence"]


def _run_with_timeout(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any], timeout_s: float
) -> pa.Table:
    timer = threading.Timer(timeout_s, connection.interrupt)
    timer.start()
    try:
        return connection.sql(sql, params=params).to_arrow_table()
    except duckdb.InterruptException as error:
        raise QueryTimeoutError(f"query ran longer than {timeout_s:g} s") from error
    except USER_ERRORS as error:  # the query's own fault: the caller gets the engine's words
        raise QueryError(f"the query failed: {str(error).splitlines()[0][:300]}") from error
    except duckdb.OutOfMemoryException as error:
        raise QueryResourceError(f"the query needs more memory: {error}") from error
    finally:
        timer.cancel()


# DuckDB errors a query causes itself (unknown column, bad cast, overflow, ...): HTTP 400.
USER_ERRORS = (
    duckdb.BinderException, duckdb.ParserException, duckdb.ConversionException,
    duckdb.OutOfRangeException, duckdb.InvalidInputException, duckdb.NotImplementedException,
)  # fmt: skip
