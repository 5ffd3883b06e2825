"""The local query engine: the Athena plan, transpiled to DuckDB, over the lake read by pyarrow.

DuckDB's httpfs extension cannot be installed offline, so pyarrow reads S3 (any endpoint) and
DuckDB scans the Arrow dataset. Each query gets its own connection with external access off
and the configuration locked: even SQL that slipped past the guard cannot read files or URLs.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import sqlglot

from k2.adapters.lake_reader import staging_dataset, staging_row_schema
from k2.config import LakeSettings
from k2.query.engine import QueryTimeoutError
from k2.query.plan import Plan

# Redelivered Kinesis batches can put a trade in two staging files: keep its first arrival.
_TRADES_VIEW = """
CREATE VIEW trades AS
SELECT * EXCLUDE (arrival) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY exchange, symbol, source_sequence ORDER BY ingestion_timestamp
    ) AS arrival
    FROM staging_rows
) WHERE arrival = 1
"""


class LocalQueryEngine:
    def __init__(self, lake: LakeSettings) -> None:
        self._lake = lake

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        sql = to_duckdb(plan.sql)
        connection = duckdb.connect(config={"threads": 2})
        try:
            connection.register("staging_rows", self._staging())
            connection.execute(_TRADES_VIEW)
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            return _run_with_timeout(connection, sql, list(plan.params), timeout_s)
        finally:
            connection.close()

    def _staging(self) -> ds.Dataset | pa.Table:
        try:
            return staging_dataset(self._lake)
        except FileNotFoundError:  # nothing has landed yet: an empty lake, not an error
            return staging_row_schema().empty_table()


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
