"""The connector's loss paths, closed: read back from Kinesis (moto server), every trade id is
there exactly once, or recorded as a gap with its cause, and every stop ends within its
deadline.

- a stop during a Kinesis outage journals the buffer and never moves the resume points past
  an undelivered trade; a restart delivers the journal and catches up;
- a frame Kinesis can never take is dead-lettered and does not block the frames behind it;
- a garbled reply to the replacement connection after serverShutdown ends in a reconnect;
- a REST ban holds every backfill, and a stop interrupts the wait; the gaps stay open for the
  next start, which fills them;
- /health fails once no connection has read for the stall timeout.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Sequence

import boto3
import pytest

from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame
from k2_connector.app import Connector, read_resume_points
from k2_connector.health import health_server
from k2_devtools.replay_server import Faults, ReplayServer
from tests.support.connector_harness import (
    caught_up,
    connector_settings,
    delivered_ids,
    expected_ids,
    run_until,
)
from tests.support.flaky_kinesis import FlakyKinesis
from tests.support.frames import frame, payload
from tests.support.streams import read_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
FRAMES = list(generate_frames(SYMBOLS, 800, seed=31))
WANT = expected_ids(FRAMES)
TOTAL = sum(map(len, WANT.values()))


@pytest.fixture
def stream(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, str]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    kinesis = boto3.client("kinesis", endpoint_url=moto_server, region_name="us-east-1")
    name = f"loss-{uuid.uuid4().hex[:12]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    yield kinesis, name
    kinesis.delete_stream(StreamName=name)


def assert_exactly_once(kinesis: object, name: str, frames: list[RecordedFrame]) -> None:
    got = delivered_ids(read_stream(kinesis, name))
    for symbol, ids in expected_ids(frames).items():
        assert sorted(got[symbol]) == sorted(ids), symbol


def forwarded(connector: Connector) -> int:
    return connector.stats.frames_forwarded + connector.stats.backfilled


def test_a_stop_during_a_kinesis_outage_journals_the_buffer_and_a_restart_delivers_it(
    stream, tmp_path
):
    kinesis, name = stream
    flaky = FlakyKinesis(kinesis, outage_after_s=1.0, outage_s=3_600)  # down until replaced

    async def scenario() -> tuple[Connector, float]:
        async with ReplayServer(FRAMES, speed=20.0) as server:
            first = Connector(
                connector_settings(server, tmp_path, SYMBOLS, drain_deadline_s=1.5),
                KinesisWriter(flaky, name).put_frames,
            )
            drained, stop_s = await run_until(first, lambda: forwarded(first) > TOTAL // 2, 60)
            assert not drained  # Kinesis was down: the rest waits in the journal
            assert first.sink.stats.persisted_at_stop > 0
            points = read_resume_points(tmp_path / "resume.json")
            assert all(points[s][0] == first.sequencer.highest(f"{s}@trade") for s in points)
            second = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            done = lambda: server.finished.is_set() and caught_up(second, WANT)  # noqa: E731
            assert (await run_until(second, done, 60))[0]
            return first, stop_s

    first, stop_s = asyncio.run(scenario())
    assert stop_s < first.settings.drain_deadline_s + 2.0
    assert flaky.refused_calls > 0
    assert_exactly_once(kinesis, name, FRAMES)


def test_a_frame_kinesis_can_never_take_is_dead_lettered_and_the_rest_flows(stream, tmp_path):
    kinesis, name = stream
    huge = payload("spot_book_ticker", b="1" * 1_200_000)  # a non-trade frame over 1 MiB
    middle = len(FRAMES) // 2
    frames = [*FRAMES[:middle], RecordedFrame(FRAMES[middle].receive_ns, huge), *FRAMES[middle:]]

    async def scenario() -> Connector:
        async with ReplayServer(frames, speed=0) as server:
            connector = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            done = lambda: server.finished.is_set() and caught_up(connector, WANT)  # noqa: E731
            assert (await run_until(connector, done, 60))[0]
            return connector

    connector = asyncio.run(scenario())
    assert connector.stats.dead_letters == 1
    assert connector.dead_letters.trades == 0  # not a trade: no alarm
    (letter,) = [json.loads(line) for line in (tmp_path / "dead-letters.jsonl").open()]
    assert letter["reason"].startswith("oversize")
    assert letter["bytes"] == len(huge)
    assert (tmp_path / letter["file"]).read_bytes() == huge
    assert_exactly_once(kinesis, name, FRAMES)


def test_a_frame_kinesis_refuses_for_good_is_found_by_bisecting_and_set_aside(stream, tmp_path):
    """A put Kinesis rejects as invalid (not throttled, not down) is split until the one frame
    it refuses is alone; that frame is dead-lettered, as a trade (an alarm), the rest lands."""
    kinesis, name = stream
    poisoned = {frame("spot_trade", t=WANT["BTCUSDT"][100], q="0.03000000")}

    class RefusesOneFrame:
        def __init__(self, writer: KinesisWriter) -> None:
            self._writer = writer

        def put_frames(self, frames: Sequence[bytes]) -> None:
            if poisoned & set(frames):
                error = {"Error": {"Code": "ValidationException", "Message": "refused"}}
                raise type("ClientError", (Exception,), {"response": error})("refused")
            self._writer.put_frames(frames)

    btc = [f for f in FRAMES if b"BTCUSDT" in f.frame]
    index = next(i for i, f in enumerate(btc) if b'"t":%d' % WANT["BTCUSDT"][100] in f.frame)
    btc[index] = RecordedFrame(btc[index].receive_ns, next(iter(poisoned)))

    async def scenario() -> Connector:
        async with ReplayServer(btc, speed=0) as server:
            connector = Connector(
                connector_settings(server, tmp_path, ["BTCUSDT"]),
                RefusesOneFrame(KinesisWriter(kinesis, name)).put_frames,
            )
            want = {"BTCUSDT": WANT["BTCUSDT"]}
            done = lambda: server.finished.is_set() and caught_up(connector, want)  # noqa: E731
            assert (await run_until(connector, done, 60))[0]
            return connector

    connector = asyncio.run(scenario())
    assert connector.sink.stats.undeliverable == 1
    assert connector.dead_letters.trades == 1  # a trade that cannot be delivered: an alarm
    got = delivered_ids(read_stream(kinesis, name))["BTCUSDT"]
    assert sorted(got) == sorted(set(WANT["BTCUSDT"]) - {WANT["BTCUSDT"][100]})


def test_a_garbled_reply_to_the_replacement_connection_ends_in_a_reconnect(stream, tmp_path):
    kinesis, name = stream
    faults = Faults(shutdown_every=500, shutdown_grace_s=0.5, bad_reply_after_shutdown=True)

    async def scenario() -> tuple[Connector, ReplayServer]:
        async with ReplayServer(FRAMES, speed=20.0, faults=faults) as server:
            connector = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            done = lambda: server.finished.is_set() and caught_up(connector, WANT)  # noqa: E731
            assert (await run_until(connector, done, 60))[0]
            return connector, server

    connector, server = asyncio.run(scenario())
    assert server.stats.bad_replies >= 1
    assert connector.stats.reconnects["rotation_failed: error: InvalidMessage"] >= 1
    assert_exactly_once(kinesis, name, FRAMES)


def test_a_rest_ban_holds_every_backfill_and_a_stop_does_not_wait_for_it(stream, tmp_path):
    """418 with Retry-After 120 s: no REST request is sent for 120 s, the stop takes seconds,
    the gaps stay open in the resume points; the next start (ban over) fills them."""
    kinesis, name = stream
    banned = Faults(gap_every=150, gap_size=3, rest_refuse_first=1, rest_retry_after_s=120)

    async def scenario() -> tuple[Connector, float]:
        async with ReplayServer(FRAMES, speed=20.0, faults=banned) as server:
            first = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            _, stop_s = await run_until(first, server.finished.is_set, 60)
            assert server.stats.rest_requests == 1  # the ban held every other backfill
            assert first.rest_budget.bans == 1
            server.faults = Faults()  # the ban is over for the next start
            second = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            done = lambda: caught_up(second, WANT)  # noqa: E731
            assert (await run_until(second, done, 60))[0]
            return first, stop_s

    first, stop_s = asyncio.run(scenario())
    assert stop_s < 5.0
    assert first.stats.gaps >= 5
    assert first.stats.backfills_interrupted >= 1
    records = [json.loads(line) for line in (tmp_path / "gaps.jsonl").open()]
    assert {r["status"] for r in records} == {"open", "filled"}  # none given up as unfilled
    assert_exactly_once(kinesis, name, FRAMES)


def test_a_429_on_one_backfill_pauses_every_backfill_for_its_retry_after(stream, tmp_path):
    kinesis, name = stream
    throttled = Faults(gap_every=100, gap_size=2, rest_refuse_first=1, rest_refuse_status=429,
                       rest_retry_after_s=2)  # fmt: skip

    async def scenario() -> ReplayServer:
        async with ReplayServer(FRAMES, speed=20.0, faults=throttled) as server:
            connector = Connector(
                connector_settings(server, tmp_path, SYMBOLS),
                KinesisWriter(kinesis, name).put_frames,
            )
            done = lambda: server.finished.is_set() and caught_up(connector, WANT)  # noqa: E731
            assert (await run_until(connector, done, 60))[0]
            return server

    server = asyncio.run(scenario())
    refused_at, *later = server.stats.rest_request_times
    assert later
    assert min(later) - refused_at >= 2.0  # nobody asked again inside Retry-After
    assert_exactly_once(kinesis, name, FRAMES)


def test_health_fails_once_no_connection_has_read_for_the_stall_timeout(tmp_path):
    refused = Faults(refuse_first=10_000, refuse_status=503, retry_after_s=0)

    async def scenario() -> list[int]:
        async with ReplayServer(FRAMES, speed=20.0, faults=refused) as server:
            connector = Connector(
                connector_settings(server, tmp_path, SYMBOLS, stall_timeout_s=1.0), lambda _: None
            )
            running = asyncio.create_task(connector.run())
            async with health_server([connector], "127.0.0.1", 0) as port:
                statuses = [await http_status(port, "/health")]
                await asyncio.sleep(1.5)
                statuses.append(await http_status(port, "/health"))
            connector.stop()
            await running
            return statuses

    assert asyncio.run(scenario()) == [200, 503]


async def http_status(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    await writer.wait_closed()
    return status
