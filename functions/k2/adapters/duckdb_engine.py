"""The local query engine: the Athena plan, transpiled to DuckDB, over the lake read by pyarrow.

DuckDB's httpfs extension cannot be installed offline, so pyarrow reads S3 (any endpoint) and
DuckDB scans the Arrow dataset. Each query gets its own connection with external access off
and the configuration locked: even SQL that slipped past the guard cannot read files or URLs.
"""

from __future__ import annotations

import functools
import operator
import threading
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import sqlglot
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

from k2 import schema
from k2.adapters.iceberg_lake import trades_catalog
from k2.adapters.lake_reader import staging_dataset, staging_row_schema
from k2.config import LakeSettings
from k2.query.engine import QueryTimeoutError
from k2.query.plan import Plan, Scope
from k2.query.relation import source_columns, trades_relation_sql

_TIMESTAMP = pa.timestamp("us", tz="UTC")


class LocalQueryEngine:
    def __init__(self, lake: LakeSettings, table_name: str = "trades") -> None:
        self._lake, self._table_name = lake, table_name
        self._catalog: Catalog | None = None

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        sql = to_duckdb(plan.sql)
        connection = duckdb.connect(config={"threads": 2})
        try:
            connection.register("staging_rows", self._staging(plan.scope))
            connection.register("iceberg_rows", self._iceberg(plan.scope))
            relation = trades_relation_sql(columns=plan.scope.columns)
            connection.execute(f"CREATE VIEW trades AS {to_duckdb(relation)}")
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            return _run_with_timeout(connection, sql, list(plan.params), timeout_s)
        finally:
            connection.close()

    def _staging(self, scope: Scope) -> ds.Dataset | pa.Table:
        try:
            dataset = staging_dataset(self._lake)
        except FileNotFoundError:  # nothing has landed yet: an empty lake, not an error
            return staging_row_schema().empty_table()
        where = _arrow_filter(scope)
        return dataset if where is None else dataset.filter(where)

    def _iceberg(self, scope: Scope) -> pa.Table:
        """The committed rows (empty before the first commit, or without a Glue catalog)."""
        if not self._lake.glue_catalog:
            return schema.arrow_schema().empty_table()
        self._catalog = self._catalog or trades_catalog(self._lake)
        try:
            table = self._catalog.load_table((self._lake.glue_database, self._table_name))
        except NoSuchTableError:
            return schema.arrow_schema().empty_table()
        return table.scan(
            row_filter=_iceberg_filter(scope), selected_fields=tuple(source_columns(scope.columns))
        ).to_arrow()


def _arrow_filter(scope: Scope) -> pc.Expression | None:
    clauses = []
    if scope.symbols:
        clauses.append(pc.field("symbol").isin(list(scope.symbols)))
    if scope.start:
        clauses.append(pc.field("timestamp") >= pa.scalar(scope.start, _TIMESTAMP))
    if scope.end:
        clauses.append(pc.field("timestamp") < pa.scalar(scope.end, _TIMESTAMP))
    return functools.reduce(operator.and_, clauses) if clauses else None


def _iceberg_filter(scope: Scope) -> BooleanExpression:
    clauses: list[BooleanExpression] = []
    if scope.symbols:
        clauses.append(In(term=Reference("symbol"), values={literal(s) for s in scope.symbols}))
    if scope.start:
        clauses.append(GreaterThanOrEqual(term=Reference("timestamp"),
                                          value=literal(scope.start.isoformat())))  # fmt: skip
    if scope.end:
        clauses.append(LessThan(term=Reference("timestamp"), value=literal(scope.end.isoformat())))
    if not clauses:
        return AlwaysTrue()
    return clauses[0] if len(clauses) == 1 else And(*clauses)


def to_duckdb(trino_sql: str) -> str:
    return sqlglot.transpile(trino_sql, read="trino", write="duckdb")[0]


def _run_with_timeout(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any], timeout_s: float
) -> pa.Table:
    timer = threading.Timer(timeout_s, connection.interrupt)
    timer.start()
    try:
        return connection.sql(sql, params=params).to_arrow_table()
    except duckdb.InterruptException as error:
        raise QueryTimeoutError(f"query ran longer than {timeout_s:g} s") from error
    finally:
        timer.cancel()
