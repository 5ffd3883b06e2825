"""Read a Kinesis stream back, frame by frame: what the connector really stored."""

from __future__ import annotations

from typing import Any

from k2.domain import kpl
from k2.domain.instrument import market_of


def read_stream(kinesis: Any, name: str) -> list[bytes]:
    """Every frame in every shard of the stream, de-aggregated, from the trim horizon."""
    return [frame for _, frame in read_stream_keyed(kinesis, name)]


def read_stream_by_market(kinesis: Any, name: str) -> dict[str, list[bytes]]:
    """The stream's frames per market, as the normalize function tells them apart: by each
    frame's partition key."""
    markets: dict[str, list[bytes]] = {}
    for key, frame in read_stream_keyed(kinesis, name):
        markets.setdefault(market_of(key), []).append(frame)
    return markets


def read_stream_keyed(kinesis: Any, name: str) -> list[tuple[str, bytes]]:
    """(partition key, frame) of every frame in every shard, from the trim horizon."""
    entries: list[tuple[str, bytes]] = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                entries += kpl.split_payload_keyed(record["Data"], record["PartitionKey"])
            if not response["Records"]:
                break
            iterator = response["NextShardIterator"]
    return entries
