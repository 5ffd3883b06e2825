"""Lambda events as the functions receive them: Kinesis batches, and what the soak function
reads besides the lake settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from k2.adapters.kinesis.writer import frame_symbol
from k2.domain import kpl
from k2.domain.instrument import DEFAULT_MARKET, instrument_key
from k2_devtools.local import event_source

# events/normalize/*.json -> (trades landed, dead letters) when the normalize function runs it
NORMALIZE_SAMPLE_PROMISES = {
    "kinesis-trades.json": (5, 0),
    "kinesis-kpl-aggregated.json": (40, 0),
    "kinesis-poison.json": (2, 3),
}


def kinesis_event(
    payloads: list[bytes],
    shard_id: str = "shardId-000000000000",
    first_sequence: int = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000,
    arrival: float = 1_723_161_300.5,
) -> dict[str, Any]:
    """A Lambda Kinesis event carrying `payloads`, one record each, consecutive sequences."""
    records = [
        {
            "PartitionKey": "BTCUSDT",
            "SequenceNumber": str(first_sequence + index),
            "Data": payload,
            "ApproximateArrivalTimestamp": datetime.fromtimestamp(arrival + index / 1000, UTC),
        }
        for index, payload in enumerate(payloads)
    ]
    stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/k2-trades"
    return event_source.kinesis_event(records, shard_id, stream_arn)


def kinesis_batches(
    frames: list[bytes],
    frames_per_record: int = 500,
    records_per_batch: int = 10,
    market: str = DEFAULT_MARKET,
    first_sequence: int = 10**20,
) -> list[dict[str, Any]]:
    """Per symbol, KPL records of 500 frames under the connector's partition key for `market`
    (the bare symbol on spot, as older writers sent it); 10 records per invocation, like an
    ESM would. Calls that must land beside each other need their own `first_sequence`: a
    batch is named by its shard and sequence numbers, and a re-delivery replaces its file."""
    records = []
    for symbol in sorted({frame_symbol(f) for f in frames}):
        own = [f for f in frames if frame_symbol(f) == symbol]
        key = symbol if market == DEFAULT_MARKET else instrument_key(market, symbol)
        for start in range(0, len(own), frames_per_record):
            records.append(kpl.aggregate(own[start : start + frames_per_record], key))
    return [
        kinesis_event(
            records[start : start + records_per_batch], first_sequence=first_sequence + start
        )
        for start in range(0, len(records), records_per_batch)
    ]


def normalize_frames(
    frames: list[bytes], market: str = DEFAULT_MARKET, first_sequence: int = 10**20
) -> None:
    """`frames` through the normalize function as Kinesis batches (kinesis_batches), into the
    staging lake; every batch must succeed."""
    from k2_devtools.local.lambda_context import LocalLambdaContext
    from normalize.handler import lambda_handler as normalize

    for event in kinesis_batches(frames, market=market, first_sequence=first_sequence):
        assert normalize(event, LocalLambdaContext("normalize")) == {"batchItemFailures": []}


def soak_function_env(stream_name: str) -> dict[str, str]:
    """What the soak function reads besides the lake settings (template.yaml, SoakFunction)."""
    return {
        "STREAM_NAME": stream_name,
        "NORMALIZE_FUNCTION_NAME": "k2-normalize",
        "CONNECTOR_CLUSTER": "k2",
        "CONNECTOR_SERVICE": "k2-connector",
    }
