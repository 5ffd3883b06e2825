"""The `trades` relation both engines read: committed rows plus fresh staging rows, each trade
once. Checked by running the SQL sent to Athena (transpiled) on DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from k2.adapters.query.athena_engine import athena_sql
from k2.adapters.query.duckdb_engine import to_duckdb
from k2.domain import schema
from k2.domain.query.planner import plan
from k2.domain.query.spec import parse_request
from tests.support.rows import tradev2_row as trade

pytestmark = pytest.mark.unit
T0 = datetime(2024, 8, 8, 23, 54, tzinfo=UTC)


def rows(trade_ids: list[int], arrival_s: int) -> pa.Table:
    return pa.Table.from_pylist(
        [trade(i) | {"ingestion_timestamp": T0 + timedelta(seconds=arrival_s)} for i in trade_ids],
        schema.arrow_schema(),
    )


def test_the_athena_relation_counts_committed_and_staged_trades_once():
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA k2")
    committed, staged = rows([1, 2, 3], arrival_s=1), rows([3, 4, 4], arrival_s=2)
    connection.register("committed", committed)
    connection.register("staged", staged)
    connection.execute("CREATE TABLE k2.trades AS SELECT * FROM committed")
    connection.execute("CREATE TABLE k2.trades_staging AS SELECT * FROM staged")
    spec = plan(parse_request("symbols", {}))
    sql = to_duckdb(athena_sql(spec, "k2", "trades", "trades_staging"))
    (row,) = connection.sql(sql, params=list(spec.params)).to_arrow_table().to_pylist()
    # ids 1..4, the repeats of 3 and 4 counted once
    assert (row["market"], row["symbol"], row["trades"]) == ("spot", "BTCUSDT", 4)
