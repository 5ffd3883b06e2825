"""Connector -> a real Kinesis API (moto server) under throttling and an outage: read it back."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import boto3
import pytest

from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.generator import generate_frames
from k2.binance.recording import read_recordings
from k2_devtools.replay_server import Faults
from tests.support.connector_harness import (
    FAST_CONNECTIONS,
    delivered_ids,
    expected_ids,
    run_connector,
)
from tests.support.flaky_kinesis import FlakyKinesis
from tests.support.recordings import RECORDED_TRADE_IDS
from tests.support.streams import read_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
FRAMES = list(generate_frames(["BTCUSDT", "ETHUSDT"], 1_500, seed=22))


@pytest.fixture
def stream(moto_server, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    kinesis = boto3.client("kinesis", endpoint_url=moto_server, region_name="us-east-1")
    name = f"connector-{uuid.uuid4().hex[:12]}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    yield kinesis, name
    kinesis.delete_stream(StreamName=name)


def test_throttling_and_a_10_second_outage_lose_nothing_and_duplicate_nothing(stream, tmp_path):
    kinesis, name = stream
    flaky = FlakyKinesis(kinesis, fail_fraction=0.3, outage_after_s=1.0, outage_s=10.0)
    writer = KinesisWriter(flaky, name, max_record_bytes=64 * 1024)
    faults = Faults(drop_every=700, shutdown_every=1100, duplicate_every=60)
    outcome = asyncio.run(
        run_connector(
            FRAMES,
            writer.put_frames,
            tmp_path,
            faults,
            speed=40.0,
            buffer_frames=200,
            timeout_s=150,
        )
    )
    assert outcome.drained
    assert flaky.throttled_entries > 0
    assert flaky.refused_calls > 0
    assert outcome.connector.sink.stats.journaled > 0  # the outage spilled to disk
    got = delivered_ids(read_stream(kinesis, name))
    for symbol, ids in expected_ids(FRAMES).items():
        assert sorted(got[symbol]) == sorted(ids), symbol


@pytest.mark.recording
def test_the_recorded_session_under_every_fault_reaches_kinesis_exactly_once(
    stream, tmp_path, recordings
):
    """Drops, stalls, serverShutdown, scheduled rotation, duplicates, malformed frames, 30% of
    PutRecords entries throttled and a 10 s Kinesis outage, all in one run of the recording."""
    frames = list(read_recordings(recordings))  # interleaved in time, as Binance sends them
    kinesis, name = stream
    flaky = FlakyKinesis(kinesis, fail_fraction=0.3, outage_after_s=2.0, outage_s=10.0)
    writer = KinesisWriter(flaky, name, max_record_bytes=64 * 1024)
    faults = Faults(
        drop_every=900, stall_every=1700, stall_s=2.0, shutdown_every=2500,
        duplicate_every=70, malformed_every=800,
    )  # fmt: skip
    rotating = dataclasses.replace(FAST_CONNECTIONS, rotate_after_s=4.0)
    outcome = asyncio.run(
        run_connector(
            frames,
            writer.put_frames,
            tmp_path,
            faults,
            speed=25.0,
            connection=rotating,
            buffer_frames=500,
            timeout_s=150,
        )
    )
    assert outcome.drained
    server, stats = outcome.server, outcome.connector.stats
    assert server.dropped_connections > 0
    assert server.stalls > 0
    assert server.shutdowns > 0
    assert stats.reconnects["rotation"] >= 1
    assert flaky.throttled_entries > 0
    assert flaky.refused_calls > 0
    got = delivered_ids(read_stream(kinesis, name))
    assert len(got["BTCUSDT"]) == len(set(got["BTCUSDT"])) == 9_757
    assert len(got["ETHUSDT"]) == len(set(got["ETHUSDT"])) == 6_106
    for symbol, ids in RECORDED_TRADE_IDS.items():
        assert sorted(got[symbol]) == list(ids), symbol
