"""`sql` accepts one read-only SELECT over the trades table; hostile SQL gets a 400 and never
reaches an engine."""

from __future__ import annotations

import json

import pytest

from k2.domain.query.planner import plan
from k2.domain.query.spec import SqlQuery
from k2_devtools.local.lambda_context import LocalLambdaContext
from query import handler

pytestmark = pytest.mark.unit

HOSTILE = [
    # stacked statements and comments
    "SELECT * FROM trades; DROP TABLE trades",
    "SELECT * FROM trades; DELETE FROM trades",
    "SELECT 1; SELECT 2",
    "SELECT * FROM trades -- \n; DROP TABLE trades",
    "SELECT * FROM trades /* */; INSERT INTO trades SELECT * FROM trades",
    "/* comment */ DROP TABLE trades",
    # DDL / DML
    "DROP TABLE trades",
    "DELETE FROM trades WHERE 1=1",
    "INSERT INTO trades SELECT * FROM trades",
    "UPDATE trades SET price = 0",
    "CREATE TABLE x AS SELECT * FROM trades",
    "CREATE VIEW v AS SELECT 1",
    "ALTER TABLE trades ADD COLUMN x int",
    "TRUNCATE TABLE trades",
    "MERGE INTO trades t USING trades s ON t.trade_id = s.trade_id WHEN MATCHED THEN DELETE",
    "SELECT * INTO newtable FROM trades",
    # engine and session commands
    "COPY trades TO '/tmp/out.csv'",
    "COPY (SELECT * FROM trades) TO 's3://k2-lake/exfil.parquet'",
    "ATTACH '/tmp/x.db' AS x",
    "ATTACH 'md:' ",
    "PRAGMA database_list",
    "SET enable_external_access = true",
    "RESET ALL",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CALL system.runtime.kill_query('x')",
    "USE other",
    "EXPORT DATABASE '/tmp/x'",
    "DESCRIBE trades",
    "SHOW TABLES",
    "EXPLAIN ANALYZE SELECT * FROM trades",
    "PREPARE p FROM SELECT 1",
    "EXECUTE p",
    # other tables, qualified names, catalogs
    "SELECT * FROM trades UNION ALL SELECT * FROM trades_staging",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM k2.trades_staging",
    "SELECT * FROM awsdatacatalog.k2.trades",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM staging_rows",
    "SELECT * FROM trades WHERE symbol IN (SELECT table_name FROM information_schema.tables)",
    'SELECT * FROM "information_schema"."columns"',
    # files and URLs through table functions and scalar functions
    "SELECT * FROM read_csv('s3://k2-lake/anything')",
    "SELECT * FROM read_parquet('s3://k2-lake/staging/trades/*/*.parquet')",
    "SELECT * FROM read_json_auto('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM parquet_scan('x.parquet')",
    "SELECT * FROM 'data.parquet'",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM iceberg_scan('s3://k2-lake/warehouse')",
    "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))",
    "SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) FROM trades",
    "WITH x AS (SELECT * FROM read_parquet('s3://b/k')) SELECT * FROM x",
    "SELECT load_extension('x')",
    "SELECT getenv('AWS_SECRET_ACCESS_KEY')",
    "SELECT current_setting('s3_secret_access_key')",
    "SELECT http_get('http://169.254.169.254/latest/meta-data/')",
    # parameters, unicode and encoding tricks
    "SELECT * FROM trades WHERE symbol = ?",
    "SELECT * FROM \uff54\uff52\uff41\uff44\uff45\uff53",  # fullwidth letters
    "SELECT * FROM trades\u037e DROP TABLE trades",
    "SELECT * FROM tr\u0430des",  # Cyrillic a
    "SELECT * FROM trades; \u200bDROP TABLE trades",
    "",
    "   ",
    "SELECT",
    "not sql at all",
    "SELECT * FROM trades" + ";" * 3 + "DROP TABLE trades",
]


def test_the_suite_is_large_enough():
    assert len(HOSTILE) >= 50


class UnreachableEngine:
    def execute(self, plan, timeout_s):
        raise AssertionError(f"a hostile query reached the engine: {plan.sql}")


@pytest.fixture
def guarded_handler(monkeypatch):
    monkeypatch.setattr(handler, "engine", lambda settings: UnreachableEngine())
    return handler.lambda_handler


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_sql_is_rejected_with_400_before_any_engine(guarded_handler, sql):
    event = {"rawPath": "/sql", "requestContext": {"http": {"method": "POST"}},
             "body": json.dumps({"sql": sql}), "isBase64Encoded": False}  # fmt: skip
    response = guarded_handler(event, LocalLambdaContext("query"))
    assert response["statusCode"] == 400, response
    assert json.loads(response["body"])["error"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol",
        "WITH recent AS (SELECT * FROM trades WHERE price > 1) SELECT count(*) FROM recent",
        "SELECT * FROM trades WHERE symbol = 'BTCUSDT' UNION ALL SELECT * FROM trades",
        "SELECT symbol, approx_percentile(price, 0.5) FROM trades GROUP BY 1",
        'SELECT row_number() OVER (PARTITION BY symbol ORDER BY "timestamp") FROM Trades',
    ],
)
def test_read_only_selects_over_trades_are_planned_with_a_row_cap(sql):
    planned = plan(SqlQuery(sql))
    assert planned.sql.endswith("LIMIT 100001")
    assert planned.params == ()


def test_quote_tricks_stay_inside_one_string_literal():
    planned = plan(SqlQuery("SELECT * FROM trades WHERE symbol = 'x'' ; DROP TABLE trades; --'"))
    assert "WHERE symbol = 'x'' ; DROP TABLE trades; --'" in planned.sql  # one literal, inert
