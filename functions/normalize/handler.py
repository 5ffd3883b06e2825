"""normalize: Kinesis batch of Binance frames -> TradeV2 Parquet in the staging lake.

Poison frames go to the dead-letter prefix and are not failures (they must not block the
shard); records whose files could not be written are returned in `batchItemFailures`.
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.adapters import aws
from k2.adapters.kinesis.batch import StagingBatchProcessor
from k2.adapters.staging.dead_letters import S3DeadLetters
from k2.adapters.staging.sink import StagingSink, StoreOutcome
from k2.adapters.staging.store import StagingLake
from k2.adapters.telemetry import log_metrics_per_invocation
from k2.config import LakeSettings
from k2.domain.records import NormalizedBatch

# stderr: Lambda sends it to CloudWatch like stdout, and locally it keeps stdout for results.
logger = Logger(service="normalize", logger_handler=logging.StreamHandler(sys.stderr))
metrics = Metrics(namespace="K2", service="normalize")
tracer = Tracer(service="normalize")


@cache
def build_sink(settings: LakeSettings) -> StagingSink:
    """One sink per settings, reused while the execution environment stays warm."""
    s3 = aws.client("s3", settings.endpoint_url)
    glue = aws.client("glue", settings.endpoint_url) if settings.glue_catalog else None
    lake = StagingLake(
        s3, glue, settings.bucket, settings.staging_prefix,
        settings.glue_database, settings.staging_table,
    )  # fmt: skip
    dead_letters = S3DeadLetters(s3, settings.dead_letter_bucket, settings.dead_letter_prefix)
    return StagingSink(lake, dead_letters)


def report(batch: NormalizedBatch, outcome: StoreOutcome) -> None:
    metrics.add_metric("Frames", MetricUnit.Count, batch.frames)
    metrics.add_metric("TradesLanded", MetricUnit.Count, batch.trades.num_rows)
    metrics.add_metric("DeadLetters", MetricUnit.Count, len(batch.dead_letters))
    metrics.add_metric("NonTradeFrames", MetricUnit.Count, sum(batch.non_trades.values()))
    metrics.add_metric("DuplicatesInBatch", MetricUnit.Count, batch.duplicates)
    metrics.add_metric("RecordsFailed", MetricUnit.Count, len(outcome.failed_sequence_numbers))
    log = logger.error if outcome.errors else logger.info
    log(
        "batch stored",
        extra={
            "batch_id": batch.batch_id,
            "frames": batch.frames,
            "trades": batch.trades.num_rows,
            "dead_letters": len(batch.dead_letters),
            "non_trades": dict(batch.non_trades),
            "duplicates": batch.duplicates,
            "objects": outcome.keys,
            "errors": [repr(error) for error in outcome.errors],
        },
    )


@logger.inject_lambda_context
@log_metrics_per_invocation(metrics)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = StagingBatchProcessor(build_sink(LakeSettings.from_env()), on_stored=report)
    return process_partial_response(
        event=event, record_handler=processor.record_handler, processor=processor, context=context
    )
