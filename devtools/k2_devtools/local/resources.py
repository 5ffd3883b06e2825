"""Create what template.yaml creates, on any endpoint: stream, lake bucket, Glue table and the
normalize function's on-failure queue."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

from k2.adapters import aws
from k2.adapters.staging.store import ensure_staging_table
from k2.config import DEFAULT_FAILURE_QUEUE, DEFAULT_STREAM_NAME, LakeSettings


@dataclass(frozen=True)
class LocalStack:
    """Names of the resources of one local stack."""

    lake: LakeSettings
    stream_name: str = DEFAULT_STREAM_NAME
    shards: int = 2
    failure_queue: str = DEFAULT_FAILURE_QUEUE


def create_resources(stack: LocalStack) -> str:
    """Create everything (idempotently); return the on-failure queue's URL."""
    endpoint = stack.lake.endpoint_url
    s3 = aws.client("s3", endpoint)
    for bucket in {stack.lake.bucket, stack.lake.dead_letter_bucket}:
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(Bucket=bucket)
    if stack.lake.glue_catalog:
        ensure_staging_table(
            aws.client("glue", endpoint),
            stack.lake.glue_database,
            stack.lake.staging_table,
            stack.lake.staging_location,
        )
    kinesis = aws.client("kinesis", endpoint)
    with suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=stack.stream_name, ShardCount=stack.shards)
    _wait_active(kinesis, stack.stream_name)
    queue = aws.client("sqs", endpoint).create_queue(QueueName=stack.failure_queue)
    return str(queue["QueueUrl"])


def _wait_active(kinesis: object, stream_name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = kinesis.describe_stream_summary(StreamName=stream_name)  # type: ignore[attr-defined]
        if status["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.2)
    raise TimeoutError(f"stream {stream_name} not ACTIVE after {timeout_s:.0f} s")
