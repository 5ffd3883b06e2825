"""A local stand-in for Lambda's Kinesis event source mapping (which moto cannot run).

Per shard, in order: read up to `batch_size` records (waiting up to the batching window for a
fuller batch), invoke the handler in-process with the exact event Lambda sends, and checkpoint.
`poll()` does this continuously while producers write; `drain()` delivers what is in the stream
now. As Lambda does:
- ReportBatchItemFailures: the next read starts at the lowest failed sequence number;
- a raised error retries the whole batch, or with `bisect_on_error` splits it in halves until
  the failing records are isolated;
- after `max_retry_attempts` (or for records older than `max_record_age_s`) the failing records
  are skipped and a `KinesisBatchInfo` record naming them goes to the on-failure destination.
Without a destination nothing is skipped (that would lose data silently): the runner stops
with BatchRetriesExhaustedError, leaving the checkpoint before the failed records.
While polling, an unreachable stream (connection errors, 5xx, throttling) is waited out and
reading resumes from the checkpoints, as the managed mapping does; any other error stops it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Event
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from k2_devtools.local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
REGION = "us-east-1"
ACCOUNT = "000000000000"


class BatchRetriesExhaustedError(RuntimeError):
    """A batch kept failing; its records are still in the stream at the checkpoint."""


@dataclass(frozen=True)
class _Failure:
    """Sequence numbers of the smallest failing run of records (bisect narrows it)."""

    start: str
    end: str


def _seq(record: dict[str, Any]) -> int:
    return int(record["SequenceNumber"])


@dataclass
class ShardProgress:
    shard_id: str
    checkpoint: str | None = None  # last sequence number the handler completed
    iterator: str | None = None  # where the next read starts; None: just after the checkpoint
    failures_in_a_row: int = 0
    invocations: int = 0
    records: int = 0
    retries: int = 0
    skipped: int = 0  # sent to the on-failure destination
    # Per delivered record: seconds from its Kinesis arrival to the handler's success.
    latencies_s: list[float] = field(default_factory=list)


@dataclass
class KinesisEventSource:
    kinesis: Any
    stream_name: str
    handler: Handler
    function_name: str = "normalize"
    batch_size: int = 100
    batching_window_s: float = 0.0  # MaximumBatchingWindowInSeconds
    max_retry_attempts: int = 3
    bisect_on_error: bool = False
    max_record_age_s: float | None = None
    on_failure: Callable[[dict[str, Any]], None] | None = None  # e.g. an SQS send_message
    clock: Callable[[], float] = time.time
    idle_poll_s: float = 0.05
    unreachable_retry_s: float = 1.0
    shards: dict[str, ShardProgress] = field(default_factory=dict)
    unreachable: int = 0  # times polling found the stream unreachable and waited

    @property
    def stream_arn(self) -> str:
        return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{self.stream_name}"

    def drain(
        self, on_batch: Callable[[ShardProgress], None] | None = None, stop: Event | None = None
    ) -> None:
        """Deliver every record now in the stream (or until `stop` is set, between batches);
        shards take turns, each in order."""
        while not (stop is not None and stop.is_set()) and self._step_every_shard(on_batch):
            pass

    def poll(self, stop: Event, on_batch: Callable[[ShardProgress], None] | None = None) -> None:
        """Deliver records as they arrive until `stop` is set, as the mapping does in AWS.
        Records that arrive after `stop` stay in the stream: `drain()` picks them up."""
        while not stop.is_set():
            try:
                delivered = self._step_every_shard(on_batch)
            except (BotoCoreError, ClientError) as error:
                if not _transient(error):
                    raise
                self.unreachable += 1
                for progress in self.shards.values():  # a read in flight is read again
                    progress.iterator = None
                stop.wait(self.unreachable_retry_s)
                continue
            if not delivered:
                stop.wait(self.idle_poll_s)

    def latencies(self) -> list[float]:
        return [latency for shard in self.shards.values() for latency in shard.latencies_s]

    def _step_every_shard(self, on_batch: Callable[[ShardProgress], None] | None) -> bool:
        """One batch from every shard (no shard waits for another's backlog)."""
        delivered = [self._step(progress, on_batch) for progress in self._progress()]
        return any(delivered)

    def _progress(self) -> list[ShardProgress]:
        listed = self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        return [self.shards.setdefault(s["ShardId"], ShardProgress(s["ShardId"])) for s in listed]

    def _step(
        self, progress: ShardProgress, on_batch: Callable[[ShardProgress], None] | None
    ) -> bool:
        """Read and deliver one batch of the shard; False when there was nothing to read."""
        read = self._read_batch(progress)
        if not read:
            return False
        records = self._drop_expired(progress, read)
        failure = self._process(progress, records) if records else None
        if failure is None:
            self._done(progress, records)
            progress.failures_in_a_row = 0
        else:
            self._retry_or_give_up(progress, records, failure)
        if on_batch:
            on_batch(progress)
        return True

    def _retry_or_give_up(
        self, progress: ShardProgress, records: list[dict[str, Any]], failure: _Failure
    ) -> None:
        progress.failures_in_a_row += 1
        progress.retries += 1
        self._done(progress, [r for r in records if _seq(r) < int(failure.start)])
        if progress.failures_in_a_row > self.max_retry_attempts:
            failing = [r for r in records if int(failure.start) <= _seq(r) <= int(failure.end)]
            self._give_up(progress, failing, "RetryAttemptsExhausted", progress.failures_in_a_row)
            progress.failures_in_a_row = 0
            progress.iterator = self._iterator(progress.shard_id, failure.end, inclusive=False)
        else:
            progress.iterator = self._iterator(progress.shard_id, failure.start, inclusive=True)

    def _read_batch(self, progress: ShardProgress) -> list[dict[str, Any]]:
        """Up to `batch_size` records; with a batching window, keep reading until the batch is
        full or the window (which opens at the first record) closes."""
        if progress.iterator is None:
            progress.iterator = self._iterator(progress.shard_id, progress.checkpoint, False)
        records: list[dict[str, Any]] = []
        window_closes: float | None = None
        while len(records) < self.batch_size and progress.iterator:
            response = self.kinesis.get_records(
                ShardIterator=progress.iterator, Limit=self.batch_size - len(records)
            )
            progress.iterator = response.get("NextShardIterator")
            records.extend(response["Records"])
            if not records or self.batching_window_s <= 0:
                break
            now = time.monotonic()
            window_closes = window_closes or now + self.batching_window_s
            if now >= window_closes:
                break
            if not response["Records"]:
                time.sleep(min(self.idle_poll_s, window_closes - now))
        return records

    def _process(self, progress: ShardProgress, records: list[dict[str, Any]]) -> _Failure | None:
        """Invoke for `records`; on a function error with bisect, recurse into the halves so
        that only the records that really fail are retried and, at worst, skipped."""
        progress.invocations += 1
        raised, retry_from = self._invoke(progress.shard_id, records)
        if retry_from is None:
            return None
        if raised and self.bisect_on_error and len(records) > 1:
            middle = len(records) // 2
            first = self._process(progress, records[:middle])
            return first or self._process(progress, records[middle:])
        return _Failure(retry_from, str(records[-1]["SequenceNumber"]))

    def _drop_expired(
        self, progress: ShardProgress, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Records older than max_record_age_s go to the on-failure destination unprocessed."""
        if self.max_record_age_s is None:
            return records
        oldest_allowed = self.clock() - self.max_record_age_s
        expired = [
            r for r in records if r["ApproximateArrivalTimestamp"].timestamp() < oldest_allowed
        ]
        if expired:
            self._give_up(progress, expired, "RecordAgeExceeded", 0)
        return records[len(expired) :]

    def _give_up(
        self, progress: ShardProgress, records: list[dict[str, Any]], condition: str, attempts: int
    ) -> None:
        if self.on_failure is None:
            raise BatchRetriesExhaustedError(
                f"{progress.shard_id}: records from {records[0]['SequenceNumber']} failed "
                f"({condition}) and no on-failure destination is configured"
            )
        self.on_failure(self._failure_record(progress.shard_id, records, condition, attempts))
        progress.skipped += len(records)
        progress.checkpoint = records[-1]["SequenceNumber"]

    def _failure_record(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, attempts: int
    ) -> dict[str, Any]:
        """What Lambda sends to a Kinesis on-failure destination: where, not the data."""
        return {
            "requestContext": {
                "functionArn": LocalLambdaContext(self.function_name).invoked_function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": records[0][
                    "ApproximateArrivalTimestamp"
                ].isoformat(),
                "approximateArrivalOfLastRecord": records[-1][
                    "ApproximateArrivalTimestamp"
                ].isoformat(),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _done(self, progress: ShardProgress, records: list[dict[str, Any]]) -> None:
        if records:
            progress.checkpoint = records[-1]["SequenceNumber"]
            progress.records += len(records)
            now = self.clock()
            progress.latencies_s.extend(
                now - r["ApproximateArrivalTimestamp"].timestamp() for r in records
            )

    def _invoke(self, shard_id: str, records: list[dict[str, Any]]) -> tuple[bool, str | None]:
        """Invoke once: (raised, sequence number to resume from, None on success)."""
        event = kinesis_event(records, shard_id, self.stream_arn)
        try:
            response = self.handler(event, LocalLambdaContext(self.function_name))
        except Exception:
            return True, str(records[0]["SequenceNumber"])
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return False, None
        return False, min((f["itemIdentifier"] for f in failures), key=int)

    def _iterator(self, shard_id: str, sequence: str | None, inclusive: bool) -> str:
        if sequence is None:
            kwargs: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            kind = "AT_SEQUENCE_NUMBER" if inclusive else "AFTER_SEQUENCE_NUMBER"
            kwargs = {"ShardIteratorType": kind, "StartingSequenceNumber": sequence}
        response = self.kinesis.get_shard_iterator(
            StreamName=self.stream_name, ShardId=shard_id, **kwargs
        )
        return str(response["ShardIterator"])


def _transient(error: BotoCoreError | ClientError) -> bool:
    """Worth waiting out: the endpoint unreachable, failing (5xx) or throttling."""
    if isinstance(error, BotoCoreError):
        return isinstance(error, EndpointUnreachable | HTTPClientError)  # refused, reset, timeout
    response = error.response
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    code = response.get("Error", {}).get("Code", "")
    return status >= 500 or code in {"ProvisionedThroughputExceededException", "Throttling",
                                      "ThrottlingException", "LimitExceededException"}  # fmt: skip


def kinesis_event(records: list[dict[str, Any]], shard_id: str, stream_arn: str) -> dict[str, Any]:
    """The event Lambda sends for Kinesis records (`sam local generate-event kinesis
    get-records` shape), from boto3 get_records output."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": record[
                        "ApproximateArrivalTimestamp"
                    ].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/k2-normalize-role",
                "awsRegion": REGION,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }
