"""A local stand-in for Lambda's Kinesis event source mapping (which moto cannot run).

Per shard, in order: read up to `batch_size` records, invoke the handler in-process with the
exact event Lambda sends, and checkpoint. With ReportBatchItemFailures the next read starts
at the lowest failed sequence number; a raised error retries the whole batch. After
`max_retry_attempts` a batch is not skipped (that would lose data silently): the runner stops
with BatchRetriesExhausted, leaving the checkpoint at the failed batch.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k2.local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
REGION = "us-east-1"
ACCOUNT = "000000000000"


class BatchRetriesExhaustedError(RuntimeError):
    """A batch kept failing; its records are still in the stream at the checkpoint."""


@dataclass
class ShardProgress:
    shard_id: str
    checkpoint: str | None = None  # last sequence number the handler completed
    invocations: int = 0
    records: int = 0
    retries: int = 0


@dataclass
class KinesisEventSource:
    kinesis: Any
    stream_name: str
    handler: Handler
    function_name: str = "normalize"
    batch_size: int = 100
    max_retry_attempts: int = 3
    shards: dict[str, ShardProgress] = field(default_factory=dict)

    @property
    def stream_arn(self) -> str:
        return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{self.stream_name}"

    def drain(self, on_batch: Callable[[ShardProgress], None] | None = None) -> None:
        """Deliver every record now in the stream, shard by shard, in order."""
        shard_ids = [
            shard["ShardId"]
            for shard in self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        ]
        for shard_id in shard_ids:
            progress = self.shards.setdefault(shard_id, ShardProgress(shard_id))
            self._drain_shard(progress, on_batch)

    def _drain_shard(
        self, progress: ShardProgress, on_batch: Callable[[ShardProgress], None] | None
    ) -> None:
        iterator = self._iterator(progress.shard_id, progress.checkpoint, inclusive=False)
        failures_in_a_row = 0
        while iterator:
            response = self.kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = response["Records"]
            if not records:
                return
            retry_from = self._invoke(progress.shard_id, records)
            progress.invocations += 1
            if retry_from is None:
                progress.checkpoint = records[-1]["SequenceNumber"]
                progress.records += len(records)
                iterator, failures_in_a_row = response.get("NextShardIterator"), 0
            else:
                failures_in_a_row += 1
                progress.retries += 1
                if failures_in_a_row > self.max_retry_attempts:
                    raise BatchRetriesExhaustedError(
                        f"{progress.shard_id}: batch from {retry_from} failed "
                        f"{failures_in_a_row} times"
                    )
                done = [r for r in records if int(r["SequenceNumber"]) < int(retry_from)]
                if done:
                    progress.checkpoint = done[-1]["SequenceNumber"]
                    progress.records += len(done)
                iterator = self._iterator(progress.shard_id, retry_from, inclusive=True)
            if on_batch:
                on_batch(progress)

    def _invoke(self, shard_id: str, records: list[dict[str, Any]]) -> str | None:
        """Invoke once; None on success, else the sequence number to resume from."""
        event = kinesis_event(records, shard_id, self.stream_arn)
        try:
            response = self.handler(event, LocalLambdaContext(self.function_name))
        except Exception:
            return str(records[0]["SequenceNumber"])
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return None
        return min((f["itemIdentifier"] for f in failures), key=int)

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
