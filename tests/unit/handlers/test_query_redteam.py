"""The query function red-teamed: over 500 hostile statements and parameter values, each with
the status it must get, and not one reaching an engine; every statement the guard accepts is
sent to Athena with every relation qualified.

Families: CTE names shadowing internal relations (the escape that worked: a CTE defined later
named after pg_settings or staging_rows), files and URLs as tables or through table functions,
functions that read settings, environment or files or build unbounded data, engine and session
commands, structural bombs (deep nesting, huge IN lists), placeholders and negative limits, and
hostile values for every parameter of every query kind.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from k2.adapters.query.athena_engine import athena_sql
from k2.domain.query.planner import plan
from k2.domain.query.spec import SqlQuery
from k2_devtools.local.lambda_context import LocalLambdaContext
from query import handler

pytestmark = pytest.mark.unit

INTERNAL = ["staging_rows", "iceberg_rows", "held_rows", "sqlite_master", "duckdb_tables",
            "duckdb_views", "duckdb_databases", "pg_settings", "duckdb_settings",
            "trades_staging", "information_schema", '"/tmp/x.csv"', '"s3://k2-lake/x.parquet"',
            '".tmp/secret.csv"']  # fmt: skip
SHADOWING = [
    "WITH x AS (SELECT * FROM {t}), {t} AS (SELECT 1 AS a) SELECT * FROM x",
    "WITH x AS (SELECT * FROM {t}), {t} AS (SELECT 1 AS a) SELECT * FROM x, {t}",
    "WITH x AS (SELECT count(*) AS n FROM {t}), {t} AS (SELECT 1 AS a) SELECT n FROM x",
    "WITH x AS (SELECT * FROM trades WHERE symbol IN (SELECT * FROM {t})), {t} AS "
    "(SELECT 'a' AS s) SELECT * FROM x",
    "SELECT * FROM (WITH y AS (SELECT * FROM {t}), {t} AS (SELECT 1 AS a) SELECT * FROM y)",
    "WITH {t} AS (SELECT 1 AS a), x AS (WITH z AS (SELECT * FROM {t}) SELECT * FROM z) "
    "SELECT * FROM x UNION ALL SELECT * FROM {t}2",
]
FILES = ["/etc/passwd", "s3://k2-lake/staging/trades/x.parquet", ".tmp/secret.csv",
         "http://169.254.169.254/latest/meta-data/", "~/.aws/credentials", "*.parquet",
         "/proc/self/environ", "lake/trades/metadata/v1.metadata.json", "file:///etc/hosts",
         "../../shared/data/binance/spot_btcusdt_20240808.gz"]  # fmt: skip
FILE_READS = [
    "SELECT * FROM read_csv('{f}')", "SELECT * FROM read_csv_auto('{f}')",
    "SELECT * FROM read_parquet('{f}')", "SELECT * FROM read_json('{f}')",
    "SELECT * FROM read_json_auto('{f}')", "SELECT * FROM read_text('{f}')",
    "SELECT * FROM read_blob('{f}')", "SELECT * FROM parquet_scan('{f}')",
    "SELECT * FROM glob('{f}')", "SELECT * FROM iceberg_scan('{f}')",
    "SELECT * FROM '{f}'", 'SELECT * FROM "{f}"',
    "SELECT (SELECT count(*) FROM read_csv('{f}')) AS n FROM trades",
    "WITH x AS (SELECT * FROM read_parquet('{f}')) SELECT * FROM x",
]  # fmt: skip
FUNCTIONS = [
    "getenv('AWS_SECRET_ACCESS_KEY')", "current_setting('s3_secret_access_key')",
    "load_extension('x')", "http_get('http://169.254.169.254/')", "sequence(1, 200000000)",
    "cardinality(sequence(1, 200000000))", "repeat('x', 100000000)", "lpad('', 100000, 'x')",
    "rpad('', 100000, 'x')", "range(1000000000)", "generate_series(1, 1000000000)",
    "version()", "current_database()", "current_schema()", "pg_backend_pid()",
    "duckdb_extensions()", "system.runtime.nodes()", "file_exists('/etc/passwd')",
    "read_text('/etc/passwd')", "sleep(100)", "random_bytes(100000000)",
]  # fmt: skip
COMMANDS = [
    "PRAGMA database_list", "PRAGMA show_tables", "SET enable_external_access = true",
    "SET memory_limit = '100GB'", "RESET ALL", "INSTALL httpfs", "LOAD httpfs",
    "ATTACH '/tmp/x.db' AS x", "DETACH x", "COPY trades TO '/tmp/out.csv'",
    "EXPORT DATABASE '/tmp/x'", "IMPORT DATABASE '/tmp/x'", "CHECKPOINT", "VACUUM",
    "CALL system.runtime.kill_query('x')", "USE other", "DESCRIBE trades", "SHOW TABLES",
    "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT * FROM trades", "PREPARE p FROM SELECT 1",
    "EXECUTE p", "DEALLOCATE p", "CREATE TABLE x AS SELECT * FROM trades",
    "CREATE VIEW v AS SELECT 1", "CREATE SECRET s (TYPE s3)", "DROP TABLE trades",
    "DELETE FROM trades", "UPDATE trades SET price = 0", "INSERT INTO trades SELECT * FROM trades",
    "ALTER TABLE trades RENAME TO t", "TRUNCATE trades", "GRANT ALL ON trades TO x",
    "BEGIN", "COMMIT", "ROLLBACK", "SELECT * INTO t FROM trades",
]  # fmt: skip
STRUCTURE = [
    "SELECT " + "(" * 9_990 + "1" + ")" * 9_990,
    "SELECT * FROM " + "(SELECT * FROM " * 1_000 + "trades" + ")" * 1_000,
    "SELECT 1 FROM trades WHERE price IN (" + ", ".join(["1"] * 5_000) + ") AND (" * 200,
    "SELECT $1", "SELECT $1 FROM trades", "SELECT * FROM trades WHERE symbol = ?",
    "SELECT * FROM trades WHERE symbol = :s", "SELECT * FROM trades LIMIT -1",
    "SELECT * FROM trades LIMIT 10 OFFSET -5", "SELECT * FROM trades LIMIT 'x'",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
    "SELECT * FROM trades, LATERAL (SELECT * FROM staging_rows) AS s",
    "SELECT 1; SELECT 2", "SELECT * FROM trades;; DROP TABLE trades", "", "   ", "SELECT",
    "SELECT * FROM system.runtime.nodes", "SELECT * FROM awsdatacatalog.k2.trades",
    "SELECT * FROM k2.trades", 'SELECT * FROM "k2"."trades_staging"',
    "SELECT * FROM information_schema.tables", "SELECT * FROM TABLE(system.query('SELECT 1'))",
    "SELECT * FROM tr\u0430des", "SELECT * FROM \uff54\uff52\uff41\uff44\uff45\uff53",
    "SELECT * FROM trades\u037e DROP TABLE trades",
]  # fmt: skip
# where a forbidden call can hide in an otherwise ordinary query
PLACES = [
    "SELECT {c} AS x FROM trades", "SELECT {c} AS x", "SELECT price FROM trades WHERE {c} > 0",
    "SELECT price FROM trades ORDER BY {c}", "SELECT max(price) FROM trades GROUP BY {c}",
    "WITH w AS (SELECT {c} AS x) SELECT * FROM w",
]  # fmt: skip
FAMILIES = {
    "CTE shadowing": [p.format(t=name) for p, name in itertools.product(SHADOWING, INTERNAL)],
    "file reads": [p.format(f=path) for p, path in itertools.product(FILE_READS, FILES)],
    "functions": [p.format(c=call) for p, call in itertools.product(PLACES, FUNCTIONS)],
    "commands": COMMANDS + [f"/* hidden */ {command.lower()}" for command in COMMANDS],
    "structure": STRUCTURE,
}
ALLOWED = [
    "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol",
    "WITH recent AS (SELECT * FROM trades WHERE price > 1) SELECT count(*) AS n FROM recent",
    "WITH a AS (SELECT * FROM trades), b AS (SELECT * FROM a) SELECT count(*) AS n FROM b",
    "WITH trades_staging AS (SELECT 1 AS a) SELECT count(*) AS n FROM trades",
    "SELECT symbol, max_by(price, timestamp) AS last FROM trades GROUP BY 1",
    "SELECT date_trunc('minute', timestamp) AS m, sum(price * quantity) AS v FROM trades "
    "GROUP BY 1 ORDER BY 1 LIMIT 10",
    "SELECT * FROM trades WHERE symbol = 'BTCUSDT' AND price > 1 LIMIT 5 OFFSET 5",
    "SELECT symbol, approx_percentile(price, 0.5) AS median FROM trades GROUP BY 1",
    'SELECT row_number() OVER (PARTITION BY symbol ORDER BY "timestamp") AS n FROM trades',
    "SELECT count(*) FILTER (WHERE side = 'BUY') AS buys FROM trades",
    "SELECT CASE WHEN side = 'BUY' OR price > 2 THEN 1 ELSE 0 END AS b FROM trades",
    "SELECT * FROM trades WHERE timestamp > current_timestamp - INTERVAL '1' DAY",
    "SELECT symbol FROM trades WHERE price BETWEEN 1 AND 2 AND symbol LIKE 'BTC%' "
    "AND NOT side IS NULL AND symbol IN ('BTCUSDT', 'ETHUSDT')",
    "SELECT symbol, price % 10 AS r, -price AS n, price / 2 AS h FROM trades",
]  # fmt: skip
PARAMETERS: list[tuple[str, dict[str, str]]] = [
    *[("trades", {"symbol": value, "start": "2024-08-08", "end": "2024-08-09"})
      for value in ["BTCUSDT'--", "BTC USDT", "", "x" * 500, "BTCUSDT;DROP", "btc\u0000",
                    "BTC\u0130", "*", "%", "../etc", "BTCUSDT,ETHUSDT", "1", "\u202eTDSUCTB"]],
    *[("ohlcv", {"symbols": value, "interval": "1m", "start": "2024-08-08", "end": "2024-08-09"})
      for value in ["BTCUSDT'", ",".join(f"S{i}" for i in range(51)), "BTCUSDT,,", ",", "a b",
                    "BTCUSDT;ETH", "\u00e9"]],
    *[("ohlcv", {"symbols": "BTCUSDT", "interval": value, "start": "2024-08-08",
                 "end": "2024-08-09"})
      for value in ["2m", "1M", "", "1m'", "1s;", "0s", "-1m", "1d ", "1 m"]],
    *[("trades", {"symbol": "BTCUSDT", "start": start, "end": end})
      for start, end in [("2024-08-09", "2024-08-08"), ("yesterday", "2024-08-09"),
                         ("2024-13-01", "2024-08-09"), ("2024-08-08", "2029-01-01"),
                         ("-1", "2024-08-09"), ("99999999999999999999", "2024-08-09"),
                         ("2024-08-08T00:00:00+99:00", "2024-08-09"),
                         ("1970-01-01", "2024-08-09")]],
    *[("trades", {"symbol": "BTCUSDT", "start": "2024-08-08", "end": "2024-08-09",
                  "limit": value})
      for value in ["-1", "0", "10001", "1e3", "x", "1.5", "99999999999999999999"]],
    *[("trades", {"symbol": "BTCUSDT", "start": "2024-08-08", "end": "2024-08-09",
                  "cursor": value})
      for value in ["x", "eyJ9", "e30", "eyJ0IjoxfQ", "Zm9v", "!!!", "a" * 5000,
                    "eyJ0IjoiMjAyNCIsInMiOiJ4In0"]],
    *[("latest", {"symbols": "BTCUSDT", "limit": value}) for value in ["-5", "1001", "x"]],
    *[(kind, {"nope": "1"}) for kind in ["trades", "ohlcv", "latest", "symbols", "freshness",
                                          "sql"]],
    *[(kind, {}) for kind in ["nope", "..", "sql/extra", "trades;", "%2e%2e", ""]],
    *[("symbols", {"format": value}) for value in ["xml", "", "JSON", "json;", "parquet2"]],
]  # fmt: skip


class UnreachableEngine:
    def execute(self, plan: Any, timeout_s: float) -> Any:
        raise AssertionError(f"a hostile request reached the engine: {plan.sql[:200]}")


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(handler, "engine", lambda settings: UnreachableEngine())
    return handler.lambda_handler


def ask(function: Any, kind: str, params: dict[str, str], body: str | None = None) -> Any:
    event = {"rawPath": f"/{kind}", "queryStringParameters": params or None,
             "requestContext": {"http": {"method": "POST" if body is not None else "GET"}},
             "body": body, "isBase64Encoded": False}  # fmt: skip
    return function(event, LocalLambdaContext("query"))


def test_the_suite_holds_over_500_hostile_cases():
    assert sum(map(len, FAMILIES.values())) + len(PARAMETERS) >= 500


@pytest.mark.parametrize("family", FAMILIES)
def test_every_hostile_statement_is_a_400_before_any_engine(guarded: Any, family: str):
    """One test per family (each case through the whole handler); a failure lists every
    statement of the family that escaped, with the answer it got."""
    escaped = []
    for sql in FAMILIES[family]:
        response = ask(guarded, "sql", {}, json.dumps({"sql": sql}))
        if response["statusCode"] != 400 or not json.loads(response["body"])["error"]:
            escaped.append((sql[:200], response["statusCode"], response["body"][:300]))
    assert escaped == []


def test_every_hostile_parameter_is_a_400_before_any_engine(guarded: Any):
    escaped = []
    for kind, params in PARAMETERS:
        response = ask(guarded, kind, params)
        if response["statusCode"] != 400:
            escaped.append((kind, params, response["statusCode"], response["body"][:300]))
    assert escaped == []


def test_a_body_that_is_not_utf8_is_a_400(guarded: Any):
    event = {"rawPath": "/sql", "requestContext": {"http": {"method": "POST"}},
             "body": "//79", "isBase64Encoded": True}  # base64 of b"\xff\xfe\xfd"  # fmt: skip
    assert guarded(event, LocalLambdaContext("query"))["statusCode"] == 400


@pytest.mark.parametrize("sql", ALLOWED)
def test_every_allowed_statement_reaches_athena_with_each_relation_qualified(sql: str):
    """What Athena runs names the Glue tables in full; any other relation is one of the
    query's own CTEs, so nothing resolves against Athena's default database."""
    planned = plan(SqlQuery(sql))
    sent = sqlglot.parse_one(athena_sql(planned, "k2", "trades", "trades_staging"), read="trino")
    ctes = {cte.alias_or_name for cte in sent.find_all(exp.CTE)}
    for table in sent.find_all(exp.Table):
        if table.db:
            assert (table.db, table.name) in {("k2", "trades"), ("k2", "trades_staging")}
        else:
            assert table.name in ctes, table.sql(dialect="trino")
