"""committer: the scheduled single writer of the trades Iceberg table.

Folds new staging files into `trades` exactly once, compacts crowded partitions, removes
consumed staging files after their retention, expires old snapshots and deletes the files
only they held. A run that finds another one holding the lease
does nothing and succeeds: the next schedule picks the work up.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.adapters.iceberg import CommitterBusyError, ConcurrentCommitError, TradesCommitter
from k2.adapters.telemetry import log_metrics_per_invocation
from k2.config import LakeSettings

logger = Logger(service="committer", logger_handler=logging.StreamHandler(sys.stderr))
metrics = Metrics(namespace="K2", service="committer")


@logger.inject_lambda_context
@log_metrics_per_invocation(metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        # a backlog is drained in bounded runs while a minute of the invocation is left
        report = TradesCommitter(LakeSettings.from_env()).drain(
            keep_going=lambda: context.get_remaining_time_in_millis() > 60_000
        )
    except (CommitterBusyError, ConcurrentCommitError) as deferred:
        logger.info("commit deferred to the next run", extra={"reason": str(deferred)})
        return {"deferred": str(deferred)}
    metrics.add_metric("RowsCommitted", MetricUnit.Count, report.new_rows)
    metrics.add_metric("DuplicatesSkipped", MetricUnit.Count, report.duplicates_skipped)
    metrics.add_metric("StagingFilesConsumed", MetricUnit.Count, report.staging_files)
    logger.info("commit done", extra=asdict(report))
    return asdict(report)
