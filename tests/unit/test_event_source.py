"""The local Kinesis event source: ordered delivery, ReportBatchItemFailures, bounded retries."""

from __future__ import annotations

import base64

import boto3
import pytest
from moto import mock_aws

from k2.local.event_source import BatchRetriesExhaustedError, KinesisEventSource

pytestmark = pytest.mark.unit


@pytest.fixture
def stream():
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        for i in range(10):
            kinesis.put_record(StreamName="s", Data=str(i).encode(), PartitionKey="k")
        yield kinesis


def payloads(event) -> list[int]:
    return [int(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]


def test_delivers_in_order_in_batches_with_lambda_event_shape(stream):
    seen: list[list[int]] = []

    def handler(event, context):
        record = event["Records"][0]
        assert record["eventSource"] == "aws:kinesis"
        assert record["eventID"].startswith("shardId-000000000000:")
        assert context.get_remaining_time_in_millis() > 0
        seen.append(payloads(event))
        return {"batchItemFailures": []}

    KinesisEventSource(stream, "s", handler, batch_size=4).drain()
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_retries_from_the_lowest_reported_failure(stream):
    seen: list[list[int]] = []

    def handler(event, context):
        values = payloads(event)
        seen.append(values)
        if len(seen) == 1:  # first call: report records 2 and 1 failed (out of order)
            sequences = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
            return {"batchItemFailures": [{"itemIdentifier": sequences[i]} for i in (2, 1)]}
        return {"batchItemFailures": []}

    source = KinesisEventSource(stream, "s", handler, batch_size=5)
    source.drain()
    assert seen == [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [6, 7, 8, 9]]
    assert source.shards["shardId-000000000000"].records == 10


def test_a_raising_handler_retries_the_whole_batch_then_stops_without_skipping(stream):
    calls = []

    def handler(event, context):
        calls.append(payloads(event))
        raise RuntimeError("boom")

    source = KinesisEventSource(stream, "s", handler, batch_size=3, max_retry_attempts=2)
    with pytest.raises(BatchRetriesExhaustedError, match="failed 3 times"):
        source.drain()
    assert calls == [[0, 1, 2]] * 3
    assert source.shards["shardId-000000000000"].checkpoint is None  # nothing skipped
