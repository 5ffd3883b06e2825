"""Powertools BatchProcessor that stores the whole Kinesis batch once, after all records.

Powertools processes records one by one; we only split and collect there, then normalize and
write every frame of the batch in one columnar pass in `_clean` (Powertools' hook that runs
after the last record). Records whose data failed to store are moved to the failures, so the
standard partial response (`batchItemFailures`) and all-failed semantics apply unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from k2.adapters.staging.sink import StagingSink, StoreOutcome
from k2.binance.normalize import KinesisBatch
from k2.domain.records import NormalizedBatch, RecordOrigin


class BatchStoreError(RuntimeError):
    """The record's frames could not be stored; Lambda retries it."""


def record_origin(record: KinesisStreamRecord) -> RecordOrigin:
    return RecordOrigin(
        shard_id=record.event_id.split(":", 1)[0],
        sequence_number=record.kinesis.sequence_number,
        arrival_us=round(record.kinesis.approximate_arrival_timestamp * 1_000_000),
        event_source_arn=record.event_source_arn,
        partition_key=record.kinesis.partition_key,
    )


class StagingBatchProcessor(BatchProcessor):
    def __init__(
        self, sink: StagingSink, on_stored: Callable[[NormalizedBatch, StoreOutcome], None]
    ) -> None:
        super().__init__(EventType.KinesisDataStreams)
        self._sink, self._on_stored = sink, on_stored
        self._batch = KinesisBatch()

    def record_handler(self, record: KinesisStreamRecord) -> None:
        """Powertools' per-record callback (it must take a parameter named `record`)."""
        self._batch.add_record(record_origin(record), record.kinesis.data_as_bytes())

    def _prepare(self) -> None:
        super()._prepare()
        self._batch = KinesisBatch()

    def _clean(self) -> None:
        normalized = self._batch.normalize()
        outcome = self._sink.store(normalized)
        self._fail_records(outcome)
        self._on_stored(normalized, outcome)
        super()._clean()

    def _fail_records(self, outcome: StoreOutcome) -> None:
        if not outcome.failed_sequence_numbers:
            return
        error = BatchStoreError(f"store failed: {outcome.errors[0]!r}")
        still_ok = []
        for record in self.success_messages:  # raw event dicts; failures hold data classes
            raw = cast("dict[str, Any]", record)
            if raw["kinesis"]["sequenceNumber"] in outcome.failed_sequence_numbers:
                self.fail_messages.append(self._to_batch_type(raw, self.event_type))
                self.exceptions.append((type(error), error, sys.exc_info()[2]))
            else:
                still_ok.append(record)
        self.success_messages[:] = still_ok
