"""The normalize function behind the local event source mapping, as `k2 run` wires it:
records that keep failing end up described in the on-failure SQS queue, never dropped."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import replace

import boto3
import pytest

from k2.config import LakeSettings
from k2.domain import kpl
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.options import LOCAL_MAPPING
from k2_devtools.local.pipeline import normalize_event_source
from k2_devtools.local.resources import LocalStack, create_resources
from normalize import handler
from tests.support.frames import frame

pytestmark = pytest.mark.integration


def test_batches_the_lake_refuses_go_to_the_failure_queue_with_their_coordinates(server_lake):
    stack = LocalStack(lake=server_lake, stream_name=f"s-{server_lake.bucket}", shards=1,
                       failure_queue=f"f-{server_lake.bucket}")  # fmt: skip
    queue_url = create_resources(stack)
    kinesis = boto3.client("kinesis")
    put = kinesis.put_record(
        StreamName=stack.stream_name,
        Data=kpl.aggregate([frame("spot_trade", t=i) for i in range(1, 11)], "BTCUSDT"),
        PartitionKey="BTCUSDT",
    )
    unwritable = replace(server_lake, bucket=f"{server_lake.bucket}-missing")
    mapping = replace(LOCAL_MAPPING, max_retry_attempts=1, batching_window_s=0)
    with _lake_environment(unwritable):
        source = normalize_event_source(replace(stack, lake=unwritable), mapping, queue_url)
        source.drain()

    (shard,) = source.shards.values()
    assert (shard.retries, shard.skipped, shard.records) == (2, 1, 0)
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    (message,) = messages["Messages"]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["KinesisBatchInfo"]["startSequenceNumber"] == put["SequenceNumber"]
    assert failure["KinesisBatchInfo"]["batchSize"] == 1


def _lake_environment(lake: LakeSettings) -> AbstractContextManager[None]:
    handler.build_sink.cache_clear()  # the handler reads its settings at cold start
    return scoped_environment(lake.as_env())
