"""The local Kinesis event source: ordered delivery, ReportBatchItemFailures, bounded retries."""

from __future__ import annotations

import base64
import threading
import time

import boto3
import pytest
from moto import mock_aws

from k2_devtools.local.event_source import BatchRetriesExhaustedError, KinesisEventSource

pytestmark = pytest.mark.unit


@pytest.fixture
def empty_stream():
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        yield kinesis


@pytest.fixture
def stream(empty_stream):
    put(empty_stream, range(10))
    return empty_stream


def put(kinesis, values) -> None:
    for value in values:
        kinesis.put_record(StreamName="s", Data=str(value).encode(), PartitionKey="k")


def put_later(kinesis, values, delay_s: float) -> threading.Thread:
    writer = threading.Timer(delay_s, put, (kinesis, values))
    writer.start()
    return writer


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
    with pytest.raises(
        BatchRetriesExhaustedError,
        match=r"failed \(RetryAttemptsExhausted\) and no on-failure destination",
    ):
        source.drain()
    assert calls == [[0, 1, 2]] * 3
    assert source.shards["shardId-000000000000"].checkpoint is None  # nothing skipped


def poison_at_3(event, context):
    """Fails every invocation whose batch contains the record with payload 3."""
    if 3 in payloads(event):
        raise ValueError("poison")
    return {"batchItemFailures": []}


def test_bisect_isolates_a_poison_record_and_only_it_goes_to_the_failure_destination(stream):
    delivered: list[int] = []
    failures: list[dict] = []

    def handler(event, context):
        poison_at_3(event, context)
        delivered.extend(payloads(event))
        return {"batchItemFailures": []}

    source = KinesisEventSource(stream, "s", handler, batch_size=5, max_retry_attempts=1,
                                bisect_on_error=True, on_failure=failures.append)  # fmt: skip
    source.drain()
    assert sorted(delivered) == [0, 1, 2, 4, 5, 6, 7, 8, 9]  # everything but the poison
    (failure,) = failures
    info = failure["KinesisBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["shardId"] == "shardId-000000000000"
    assert source.shards["shardId-000000000000"].skipped == 1


def test_without_bisect_the_whole_failing_batch_is_reported(stream):
    failures: list[dict] = []
    source = KinesisEventSource(stream, "s", poison_at_3, batch_size=5, max_retry_attempts=0,
                                on_failure=failures.append)  # fmt: skip
    source.drain()
    assert [f["KinesisBatchInfo"]["batchSize"] for f in failures] == [5]
    assert source.shards["shardId-000000000000"].records == 5  # 5..9 delivered


def test_records_older_than_the_maximum_age_are_reported_not_delivered(stream):
    delivered: list[int] = []
    failures: list[dict] = []

    def handler(event, context):
        delivered.extend(payloads(event))
        return {"batchItemFailures": []}

    source = KinesisEventSource(stream, "s", handler, max_record_age_s=60,
                                on_failure=failures.append,
                                clock=lambda: time.time() + 3600)  # an hour later  # fmt: skip
    source.drain()
    assert delivered == []
    assert [f["requestContext"]["condition"] for f in failures] == ["RecordAgeExceeded"]
    assert failures[0]["KinesisBatchInfo"]["batchSize"] == 10


def test_without_a_batching_window_a_poll_delivers_what_is_there(empty_stream):
    seen: list[list[int]] = []
    put(empty_stream, [0])
    writer = put_later(empty_stream, [1, 2], delay_s=0.3)
    source = KinesisEventSource(empty_stream, "s", recorder(seen), batch_size=3)
    source.drain()
    writer.join()
    source.drain()
    assert seen == [[0], [1, 2]]


def test_a_batching_window_waits_for_a_fuller_batch_and_closes_when_it_is_full(empty_stream):
    seen: list[list[int]] = []
    put(empty_stream, [0])
    writer = put_later(empty_stream, [1, 2], delay_s=0.3)
    # The window is far longer than the test's timeout: only a full batch can end it.
    source = KinesisEventSource(empty_stream, "s", recorder(seen), batch_size=3,
                                batching_window_s=3600)  # fmt: skip
    source.drain()
    writer.join()
    assert seen == [[0, 1, 2]]


def test_poll_delivers_records_written_while_it_runs_and_measures_their_latency(empty_stream):
    seen: list[list[int]] = []
    source = KinesisEventSource(empty_stream, "s", recorder(seen), batch_size=4)
    stop = threading.Event()
    poller = threading.Thread(target=source.poll, args=(stop,))
    poller.start()
    for value in range(12):
        put(empty_stream, [value])
    deadline = time.monotonic() + 20
    while sum(map(len, seen)) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    poller.join()
    assert [value for batch in seen for value in batch] == list(range(12))
    latencies = source.latencies()
    assert len(latencies) == 12
    assert all(0 <= latency < 20 for latency in latencies)  # arrival -> handler done


def recorder(seen: list[list[int]]):
    def handler(event, context):
        seen.append(payloads(event))
        return {"batchItemFailures": []}

    return handler


# What `sam local generate-event kinesis get-records` renders (SAM CLI 1.170.0,
# samcli/lib/generated_sample_events/events/kinesis/Kinesis.json), values elided.
SAM_KINESIS_RECORD = {
    "kinesis": {"partitionKey": str, "kinesisSchemaVersion": str, "data": str,
                "sequenceNumber": str, "approximateArrivalTimestamp": float},
    "eventSource": str, "eventID": str, "invokeIdentityArn": str, "eventVersion": str,
    "eventName": str, "eventSourceARN": str, "awsRegion": str,
}  # fmt: skip


def shape_of(value):
    if isinstance(value, dict):
        return {key: shape_of(item) for key, item in value.items()}
    return type(value)


def test_events_have_exactly_the_shape_sam_generates(stream):
    events: list[dict] = []

    def handler(event, context):
        events.append(event)
        return {"batchItemFailures": []}

    KinesisEventSource(stream, "s", handler, batch_size=10).drain()
    (event,) = events
    assert list(event) == ["Records"]
    for record in event["Records"]:
        assert shape_of(record) == SAM_KINESIS_RECORD
        assert record["eventID"] == f"shardId-000000000000:{record['kinesis']['sequenceNumber']}"
        assert record["eventSourceARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/s"
