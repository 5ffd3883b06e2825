"""The query function over the recorded session: answers equal an independent computation
from the raw frames, exactly, locally (DuckDB) and through the Athena path's result parsing."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import requests

from k2.adapters.query.athena_engine import AthenaQueryEngine, athena_sql
from k2.binance.recording import read_recording
from k2.config import QuerySettings
from k2.domain.query.planner import plan
from k2.domain.query.results import RESULT_SCHEMAS, shape
from k2.domain.query.spec import parse_request
from k2_devtools.cli.main import main as k2_main
from k2_devtools.local.environment import scoped_environment
from query import handler as query_function
from tests.support.cli import K2
from tests.support.events import normalize_frames
from tests.support.query import bars_from_frames, comparable, get
from tests.support.recordings import RECORDED_TRADE_IDS

pytestmark = [pytest.mark.integration, pytest.mark.recording]
SESSION = {"start": "2024-08-08T23:00:00Z", "end": "2024-08-09T01:00:00Z"}


@pytest.fixture
def raw_trades(recordings) -> list[dict]:
    trades = []
    for path in recordings:
        for recorded in read_recording(path):
            data = json.loads(recorded.frame).get("data", {})
            if data.get("e") == "trade":
                trades.append(data)
    return trades


@pytest.fixture
def session_lake(server_lake, recordings):
    frames = [recorded.frame for path in recordings for recorded in read_recording(path)]
    normalize_frames(frames)
    query_function.close_engines()
    with scoped_environment({"QUERY_ENGINE": "local"}):
        yield server_lake


def test_ohlcv_1m_equals_an_independent_computation_from_the_raw_frames(session_lake, raw_trades):
    for symbol in RECORDED_TRADE_IDS:
        status, body = get("/ohlcv", symbols=symbol, interval="1m", **SESSION)
        assert status == 200, body
        assert [comparable(row) for row in body["rows"]] == bars_from_frames(raw_trades, symbol)


def test_trades_pages_walk_every_trade_exactly_once_in_trade_order(session_lake):
    ids, cursor, pages = [], None, 0
    while True:
        params = {"symbol": "ETHUSDT", "limit": "2500", **SESSION}
        status, body = get("/trades", **params, **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        ids += [row["source_sequence"] for row in body["rows"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            break
    assert ids == list(RECORDED_TRADE_IDS["ETHUSDT"])
    assert pages == 3


def test_latest_symbols_freshness_and_sql(session_lake, raw_trades):
    status, body = get("/latest", symbols="BTCUSDT", limit="3")
    assert [row["source_sequence"] for row in body["rows"]] == list(RECORDED_TRADE_IDS["BTCUSDT"])[
        -1:-4:-1
    ]
    status, body = get("/symbols")
    assert {row["symbol"]: row["trades"] for row in body["rows"]} == {
        symbol: len(ids) for symbol, ids in RECORDED_TRADE_IDS.items()
    }
    status, body = get("/freshness")
    assert all(row["lag_seconds"] > 0 for row in body["rows"])
    status, body = get("/sql", sql="SELECT side, count(*) AS n FROM trades GROUP BY side")
    assert status == 200
    assert sum(row["n"] for row in body["rows"]) == len(raw_trades)


def test_csv_and_parquet_results(session_lake):
    status, text = get("/ohlcv", symbols="BTCUSDT", format="csv", **SESSION)
    assert status == 200
    header, first = text.splitlines()[:2]
    assert header == "market,symbol,bar_start,open,high,low,close,volume,quote_volume,trades,vwap"
    assert first.startswith("spot,BTCUSDT,2024-08-08T23:54:00Z,61837.63000000,")
    status, data = get("/trades", symbol="BTCUSDT", limit="10", format="parquet", **SESSION)
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 10
    assert str(table["price"][0]) == "61837.63000000"


PARQUET_VARIANTS = {
    "trades": [{"symbol": "BTCUSDT", "limit": "3"}, {"symbol": "ETHUSDT", "limit": "5000"},
               {"symbol": "NOPEUSDT"}],
    "ohlcv": [{"symbols": "BTCUSDT"}, {"symbols": "ETHUSDT", "interval": "1s"},
              {"symbols": "NOPEUSDT"}],
}  # fmt: skip


def test_parquet_answers_have_the_kinds_types_on_every_page_and_symbol(session_lake):
    """The types come from the kind, never from the rows a page happens to hold (a page of
    small prices gave decimal128(12,8), an empty trade_conditions list<null>)."""
    for kind, variants in PARQUET_VARIANTS.items():
        want = [(f.name, f.type) for f in RESULT_SCHEMAS[kind]]
        for params in variants:
            status, data = get(f"/{kind}", format="parquet", **SESSION, **params)
            assert status == 200
            got = pq.read_schema(io.BytesIO(data))
            assert [(f.name, f.type) for f in got] == want, params


def test_bad_requests_are_400_with_the_reason_and_products_never_overflow(session_lake, raw_trades):
    status, body = get("/ohlcv", symbols="BTCUSDT", interval="2m")
    assert status == 400
    assert "interval must be one of" in body["error"]
    status, body = get("/nothing")
    assert status == 400
    assert "unknown query" in body["error"]
    status, body = get("/sql", sql="SELECT nope FROM trades")  # the engine's reason
    assert status == 400
    assert '"nope" not found' in body["error"]
    # Trino multiplies decimal(18,8) values in 36 digits; DuckDB kept 18 and overflowed (the
    # local engine widens TradeV2's decimal columns in products to match)
    status, body = get("/sql", sql="SELECT sum(price * quantity) AS notional FROM trades")
    assert status == 200, body
    exact = sum((Decimal(t["p"]) * Decimal(t["q"]) for t in raw_trades), Decimal(0))
    assert Decimal(body["rows"][0]["notional"]) == exact


def test_the_athena_path_sends_the_plan_with_bound_parameters_and_parses_typed_results(
    session_lake, moto_server
):
    if not _is_moto(moto_server):
        pytest.skip("Athena result injection is a moto server feature (LocalStack: no Athena)")
    spec = parse_request("ohlcv", {"symbols": "BTCUSDT", "interval": "1m", **SESSION})
    local_engine = query_function.engine(QuerySettings.from_env())
    local = shape(spec, local_engine.execute(plan(spec), 30))
    _inject_athena_result(moto_server, local.rows[:3])

    athena = AthenaQueryEngine(database="k2", workgroup="primary")
    result = shape(spec, athena.execute(plan(spec), timeout_s=30))

    execution = _last_execution()
    sent = execution["Query"]
    assert sent == athena_sql(plan(spec), "k2", "trades", "trades_staging")  # the plan
    assert 'FROM "k2"."trades" UNION ALL SELECT' in sent  # committed rows ...
    assert 'FROM "k2"."trades_staging") AS fresh WHERE fresh.copy = 1' in sent  # ... fresh ones
    where = 'WHERE exchange IN (?) AND symbol IN (?) AND "timestamp" >= ? AND "timestamp" < ?'
    assert where in sent
    assert 'MIN_BY(price, ROW("timestamp", source_sequence)) AS open' in sent
    assert execution["ExecutionParameters"] == [
        "'BINANCE'",
        "'BTCUSDT'",
        "TIMESTAMP '2024-08-08 23:00:00.000000'",
        "TIMESTAMP '2024-08-09 01:00:00.000000'",
    ]
    assert [comparable(_as_json(row)) for row in result.rows] == [
        comparable(_as_json(row)) for row in local.rows[:3]
    ]


def _is_moto(endpoint: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{endpoint}/moto-api/data.json", timeout=5).status_code == 200
    return False


def _as_json(row: dict) -> dict:
    out = dict(row)
    out["bar_start"] = out["bar_start"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return out


COLUMN_TYPES = {
    "market": "varchar", "symbol": "varchar", "bar_start": "timestamp", "trades": "bigint"
}  # fmt: skip


def _inject_athena_result(endpoint: str, rows: list[dict]) -> None:
    columns = ["market", "symbol", "bar_start", "open", "high", "low", "close", "volume",
               "quote_volume", "trades"]  # fmt: skip

    def text(value) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return str(value)

    body: dict[str, Any] = {
        "results": [{
            "rows": [{"Data": [{"VarCharValue": c} for c in columns]}]
            + [{"Data": [{"VarCharValue": text(row[c])} for c in columns]} for row in rows],
            "column_info": [
                {"Name": c, "Label": c, "Type": COLUMN_TYPES.get(c, "decimal"),
                 "Precision": 38, "Scale": 16 if c == "quote_volume" else 8,
                 "Nullable": "UNKNOWN", "CaseSensitive": False}
                for c in columns
            ],
        }]
    }  # fmt: skip
    response = requests.post(
        f"{endpoint}/moto-api/static/athena/query-results", json=body, timeout=10
    )
    response.raise_for_status()


def _last_execution() -> dict:
    athena = boto3.client("athena")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return max(executions, key=lambda e: e["Status"]["SubmissionDateTime"])


def k2_query(*args: str) -> subprocess.CompletedProcess[str]:
    command = [*K2, "query", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_k2_query_cli_gives_the_functions_answer_as_a_table_json_and_a_chart(
    session_lake, tmp_path
):
    window = ["--start", SESSION["start"], "--end", SESSION["end"]]
    as_json = k2_query("ohlcv", "--symbols", "BTCUSDT", *window, "--json")
    assert as_json.returncode == 0, as_json.stderr
    _, body = get("/ohlcv", symbols="BTCUSDT", **SESSION)
    assert json.loads(as_json.stdout)["rows"] == body["rows"]

    chart = tmp_path / "bars.html"
    table = k2_query("ohlcv", "--symbols", "BTCUSDT", *window, "--chart", str(chart))
    assert table.returncode == 0, table.stderr
    assert f"({len(body['rows'])} rows)" in table.stdout
    html = chart.read_text()
    assert '"type":"candlestick"' in html
    for bar in body["rows"]:  # every bar on the time axis, at its time
        assert bar["bar_start"].replace("Z", "+00:00") in html

    rejected = k2_query("sql", "--sql", "SELECT * FROM trades; DROP TABLE trades")
    assert rejected.returncode == 2
    assert "exactly one statement (HTTP 400)" in rejected.stderr


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


CLI_MISTAKES = [  # (arguments, exit code, what the one line says)
    (["trades", "--symbol", "NOPEUSDT"], 1, "the lake holds no spot trades of NOPEUSDT"),
    (["trades", "--symbol", "BTCUSDT", "--start", "2020-01-01", "--end", "2020-01-02"], 1,
     "nothing in that time range; the lake holds BTCUSDT 2024-08-08T23:"),
    (["trades", "--symbol", "BTCUSDT", "--market", "usdm"], 1, "no usdm trades of BTCUSDT"),
    (["sql", "--sql", "SELECT nope FROM trades"], 2, '"nope" not found'),
    (["ohlcv", "--symbols", "BTCUSDT", "--interval", "2m"], 2, "interval must be one of"),
    (["trades", "--symbol", "BTCUSDT", "--format", "parquet"], 2, "needs --out FILE"),
]  # fmt: skip


def test_k2_query_says_in_one_line_what_is_wrong_with_its_exit_code(session_lake, capsys):
    for args, code, says in CLI_MISTAKES:
        assert k2_main(["query", *args]) == code, args  # in-process, as the executable runs it
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"k2 query {args[0]}: "), args
        assert says in line, args


def test_k2_query_all_follows_the_cursor_to_the_last_page(session_lake, tmp_path):
    window = ["--start", SESSION["start"], "--end", SESSION["end"]]
    csv_path, parquet_path = tmp_path / "eth.csv", tmp_path / "eth.parquet"
    for out, fmt in ((csv_path, "csv"), (parquet_path, "parquet")):
        result = k2_query("trades", "--symbol", "ETHUSDT", *window, "--limit", "2500",
                          "--format", fmt, "--all", "--out", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "in 3 pages" in result.stderr
    ids = [int(line.split(",")[11]) for line in csv_path.read_text().splitlines()[1:]]
    assert ids == list(RECORDED_TRADE_IDS["ETHUSDT"])  # every trade once, in order
    table = pq.read_table(parquet_path)
    assert table["source_sequence"].to_pylist() == ids
    assert table.schema.field("price").type == RESULT_SCHEMAS["trades"].field("price").type
