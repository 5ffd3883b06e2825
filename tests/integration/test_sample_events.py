"""Every query, committer and soak file in events/ runs against its handler in-process, on
the moto server, and returns what events/README.md promises. (The normalize events need no
HTTP endpoint: tests/unit/test_sample_events.py.)

The lake is first filled the way a deployment fills it: both normalize sample events land
(40 distinct trades: the 5 of kinesis-trades.json are among the 40 of kinesis-kpl-aggregated.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from committer.handler import lambda_handler as committer_function
from k2.adapters import aws
from k2.config import LakeSettings
from k2.domain.soak import SAMPLED_METRICS
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.lambda_context import LocalLambdaContext
from k2_devtools.local.resources import LocalStack, create_resources
from normalize.handler import lambda_handler as normalize_function
from query.handler import lambda_handler as query_function
from soak.handler import lambda_handler as soak_function
from tests.support.events import NORMALIZE_SAMPLE_PROMISES as NORMALIZE_PROMISES
from tests.support.events import soak_function_env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_TRADES = 40  # distinct trades: the first event's 5 are among the second's 40


def rows(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])["rows"]


def trades_in(response: dict[str, Any]) -> int:
    return sum(row["trades"] for row in rows(response))


def symbols_in(response: dict[str, Any]) -> list[str]:
    return [row["symbol"] for row in rows(response)]


HANDLERS: dict[str, Callable[..., Any]] = {
    "query": query_function,
    "committer": committer_function,
    "soak": soak_function,
}
# file under events/ -> what the handler's response must satisfy
PROMISES: dict[str, Callable[[Any], bool]] = {
    "query/trades.json": lambda r: symbols_in(r) == ["BTCUSDT"] * 3,
    "query/ohlcv.json": lambda r: trades_in(r) == SAMPLE_TRADES,
    "query/ohlcv-csv.json": lambda r: r["headers"]["content-type"].startswith("text/csv"),
    "query/latest.json": lambda r: sorted(symbols_in(r)) == ["BTCUSDT", "ETHUSDT"],
    "query/symbols.json": lambda r: trades_in(r) == SAMPLE_TRADES,
    "query/freshness.json": lambda r: sorted(symbols_in(r)) == ["BTCUSDT", "ETHUSDT"],
    "query/sql.json": lambda r: trades_in(r) == SAMPLE_TRADES,
    "query/bad-request.json": lambda r: r["statusCode"] == 400 and "interval" in r["body"],
    "committer/scheduled.json": lambda r: r["new_rows"] == SAMPLE_TRADES,
    "soak/plan.json": lambda r: r["steps"] == [0, 1] and r["last_id"] - r["first_id"] == 199,
    "soak/generate.json": lambda r: r["last_id"] - r["first_id"] == 99 and r["records"] >= 1,
    "soak/sample.json": lambda r: set(r) == set(SAMPLED_METRICS),  # None each: moto has no data
    "soak/reconcile.json": lambda r: r["expected"] == r["missing"] == 200,  # nothing soaked yet
    "soak/report.json": lambda r: r["ok"] is True and r["report"].endswith("/sample-run.json"),
}


def test_every_sample_event_has_a_promise():
    files = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json")}
    promised = set(PROMISES) | {f"normalize/{name}" for name in NORMALIZE_PROMISES}
    assert files == promised


@pytest.fixture
def landed_lake(server_lake: LakeSettings) -> Iterator[LakeSettings]:
    """The lake after both normalize sample events, with the soak function's stream."""
    stack = LocalStack(lake=server_lake, stream_name="k2-soak-samples", shards=1)
    create_resources(stack)
    for name in ("kinesis-trades.json", "kinesis-kpl-aggregated.json"):
        event = json.loads((EVENTS / "normalize" / name).read_text())
        assert normalize_function(event, context("normalize")) == {"batchItemFailures": []}
    with scoped_environment({"QUERY_ENGINE": "local", **soak_function_env(stack.stream_name)}):
        yield server_lake


def context(name: str) -> Any:
    return LocalLambdaContext(name)


# events whose handler reads or writes the Iceberg table through the Glue catalog
NEEDS_GLUE = {"committer/scheduled.json", "soak/reconcile.json"}


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_sample_event(name, landed_lake):
    if name in NEEDS_GLUE and not landed_lake.glue_catalog:
        pytest.skip(f"{name} needs the Glue catalog (GLUE_CATALOG=off: LocalStack community)")
    function = name.split("/")[0]
    event = json.loads((EVENTS / name).read_text())
    response = HANDLERS[function](event, context(function))
    assert PROMISES[name](response), response


def test_the_soak_report_event_writes_its_report(landed_lake):
    event = json.loads((EVENTS / "soak" / "report.json").read_text())
    soak_function(event, context("soak"))
    key = "soak-reports/sample-run.json"
    stored = aws.client("s3").get_object(Bucket=landed_lake.bucket, Key=key)
    report = json.loads(stored["Body"].read())
    assert report["worst"]["iterator_age_ms"] == 1200.0
