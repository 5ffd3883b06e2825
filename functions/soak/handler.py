"""soak: the tasks of the weekly soak state machine (infra/statemachines/soak.asl.json).

One function, one task per `action`, so the state machine needs one role and one package:
- `plan`: the run's fresh trade-id range and its load steps;
- `generate`: put one load step of fresh trades through the connector's Kinesis path;
- `sample`: read the pipeline's metrics (iterator age, normalize duration, connector memory);
- `reconcile`: compare the lake with every id the run sent;
- `report`: judge the run (k2.domain.soak.verdict) and write the report to S3.
The arithmetic lives in k2.domain.soak; this module only makes the AWS calls.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.adapters import aws
from k2.adapters.iceberg import read_trades
from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.generator import generate_frames
from k2.config import LakeSettings
from k2.domain import soak
from k2.domain.lake.reconcile import SymbolReport, reconcile

logger = Logger(service="soak", logger_handler=logging.StreamHandler(sys.stderr))
SAMPLE_WINDOW = timedelta(minutes=5)


def plan(task: dict[str, Any]) -> dict[str, Any]:
    """Fresh ids for this run, and the steps the Map state iterates over."""
    steps, trades = int(task["steps"]), int(task["trades_per_step"])
    base_id = soak.run_base_id(int(time.time()))
    last = soak.LoadStep(base_id=base_id, step=steps - 1, trades=trades)  # validates the size
    return {
        "run_id": task["run_id"],
        "base_id": base_id,
        "steps": list(range(steps)),
        "first_id": base_id,
        "last_id": last.last_id,
    }


def generate(task: dict[str, Any]) -> dict[str, Any]:
    """Put one load step's trades (with the bookTicker frames a real stream mixes in)."""
    step = soak.LoadStep(
        base_id=int(task["base_id"]), step=int(task["step"]), trades=int(task["trades"])
    )
    symbol = task.get("symbol", soak.SOAK_SYMBOL)
    frames = [
        recorded.frame
        for recorded in generate_frames(
            [symbol],
            step.trades,
            seed=step.step,
            start_ms=int(time.time() * 1000),
            first_trade_id=step.first_id,
        )
    ]
    writer = KinesisWriter(aws.client("kinesis"), os.environ["STREAM_NAME"])
    writer.put_frames(frames)
    return {
        "symbol": symbol,
        "first_id": step.first_id,
        "last_id": step.last_id,
        "frames": len(frames),
        "records": writer.stats.records,
    }


def sample(task: dict[str, Any]) -> dict[str, float | None]:
    """The worst value of each sampled metric over the last few minutes (None: no data)."""
    end = datetime.now(UTC)
    queries = [
        _metric_query(
            "iterator_age_ms",
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
            {"FunctionName": os.environ["NORMALIZE_FUNCTION_NAME"]},
        ),
        _metric_query(
            "normalize_duration_ms",
            "AWS/Lambda",
            "Duration",
            "p99",
            {"FunctionName": os.environ["NORMALIZE_FUNCTION_NAME"]},
        ),
        _metric_query(
            "connector_memory_pct",
            "AWS/ECS",
            "MemoryUtilization",
            "Maximum",
            {
                "ClusterName": os.environ["CONNECTOR_CLUSTER"],
                "ServiceName": os.environ["CONNECTOR_SERVICE"],
            },
        ),
    ]
    cloudwatch = aws.client("cloudwatch")
    try:
        response = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=end - SAMPLE_WINDOW, EndTime=end
        )
    except cloudwatch.exceptions.ClientError as error:
        if not any(_is_percentile(q) and q["MetricStat"]["Stat"] in str(error) for q in queries):
            raise
        # An endpoint without percentile statistics (LocalStack): the others are still read;
        # the skipped ones bound nothing (None, as a metric without data), and the log says so.
        skipped = [q["Id"] for q in queries if _is_percentile(q)]
        logger.warning("percentile statistics unsupported; not sampled", extra={"skipped": skipped})
        response = cloudwatch.get_metric_data(
            MetricDataQueries=[q for q in queries if not _is_percentile(q)],
            StartTime=end - SAMPLE_WINDOW, EndTime=end,
        )  # fmt: skip
    values = {result["Id"]: result.get("Values", []) for result in response["MetricDataResults"]}
    return {name: max(values.get(name) or [], default=None) for name in soak.SAMPLED_METRICS}


def _is_percentile(query: dict[str, Any]) -> bool:
    stat: str = query["MetricStat"]["Stat"]
    return stat[:1] == "p" and stat[1:].replace(".", "", 1).isdigit()


def reconcile_run(task: dict[str, Any]) -> dict[str, Any]:
    """Every id from the run's first to its last, exactly once in the trades table."""
    symbol = task.get("symbol", soak.SOAK_SYMBOL)
    expected = soak.expected_trades(symbol, int(task["first_id"]), int(task["last_id"]))
    landed = read_trades(
        LakeSettings.from_env(), selected=("symbol", "source_sequence"), symbol=symbol
    )
    [report] = [r for r in reconcile(expected, landed) if r.symbol == symbol]
    return asdict(report)


def report(task: dict[str, Any]) -> dict[str, Any]:
    """Judge the run and write its report; the state machine fails the execution unless ok."""
    judged = soak.verdict(
        SymbolReport(**task["reconciliation"]),
        task.get("samples", []),
        soak.Thresholds.from_input(task.get("thresholds")),
    )
    settings = LakeSettings.from_env()
    key = f"{os.environ.get('SOAK_REPORT_PREFIX', 'soak-reports').strip('/')}/{task['run_id']}.json"
    body = {
        "run_id": task["run_id"],
        **asdict(judged),
        "reconciliation": task["reconciliation"],
        "samples": task.get("samples", []),
    }
    aws.client("s3").put_object(
        Bucket=settings.bucket, Key=key, Body=orjson.dumps(body), ContentType="application/json"
    )
    logger.info("soak report", extra={"key": key, "ok": judged.ok, "reasons": judged.reasons})
    return {"ok": judged.ok, "reasons": judged.reasons, "report": f"s3://{settings.bucket}/{key}"}


ACTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "plan": plan,
    "generate": generate,
    "sample": sample,
    "reconcile": reconcile_run,
    "report": report,
}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    action = event.get("action")
    task = ACTIONS.get(action) if isinstance(action, str) else None
    if task is None:
        raise ValueError(f"soak: unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    return task(event)


def _metric_query(
    name: str, namespace: str, metric: str, stat: str, dimensions: dict[str, str]
) -> dict[str, Any]:
    return {
        "Id": name,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": True,
    }
