"""Read a Kinesis stream back, frame by frame: what the connector really stored."""

from __future__ import annotations

from typing import Any

from k2.domain import kpl


def read_stream(kinesis: Any, name: str) -> list[bytes]:
    """Every frame in every shard of the stream, de-aggregated, from the trim horizon."""
    frames: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                frames += kpl.split_payload(record["Data"])
            if not response["Records"]:
                break
            iterator = response["NextShardIterator"]
    return frames
