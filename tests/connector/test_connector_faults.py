"""Connector vs. the replay server with faults: every trade id reaches the sink exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from k2.binance.generator import generate_frames, whole_market_frames
from k2.binance.recording import RecordedFrame
from k2_devtools.replay_server import Faults
from tests.support.connector_harness import (
    FAST_CONNECTIONS,
    delivered_ids,
    expected_ids,
    run_connector,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
FRAMES = list(generate_frames(["BTCUSDT", "ETHUSDT"], 1_500, seed=21))


def run(tmp_path, faults=None, connection=FAST_CONNECTIONS, speed=20.0):
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(FRAMES, sink.extend, tmp_path, faults, speed=speed, connection=connection)
    )
    assert outcome.drained
    got = delivered_ids(sink)
    for symbol, ids in expected_ids(FRAMES).items():
        assert sorted(got[symbol]) == sorted(ids), symbol  # every id, exactly once
    return outcome


def test_no_faults_everything_arrives_over_the_websocket(tmp_path):
    outcome = run(tmp_path)
    stats = outcome.connector.stats
    assert (stats.duplicates, stats.gaps, stats.backfilled) == (0, 0, 0)


def test_dropped_connections_are_reconnected_and_the_missed_trades_backfilled(tmp_path):
    outcome = run(tmp_path, Faults(drop_every=400))
    assert outcome.server.dropped_connections >= 2
    assert outcome.connector.stats.reconnects["closed"] >= 2
    assert outcome.connector.stats.backfilled > 0


def test_a_stalled_connection_is_replaced_by_the_watchdog(tmp_path):
    outcome = run(tmp_path, Faults(stall_every=600, stall_s=3.0))
    assert outcome.server.stalls >= 1
    assert outcome.connector.stats.reconnects["stalled"] >= 1


def test_server_shutdown_rotates_to_a_new_connection_first(tmp_path):
    outcome = run(tmp_path, Faults(shutdown_every=700, shutdown_grace_s=1.0))
    assert outcome.server.shutdowns >= 1
    assert outcome.connector.stats.reconnects["rotation"] >= 1


def test_scheduled_rotation_before_the_24h_limit_has_no_gap(tmp_path):
    quick_rotation = dataclasses.replace(FAST_CONNECTIONS, rotate_after_s=1.5)
    outcome = run(tmp_path, connection=quick_rotation)
    assert sum(s.rotations for s in outcome.connector.supervisors) >= 2
    assert outcome.connector.stats.gaps == 0  # make-before-break: nothing missed


def test_withheld_trades_are_detected_as_gaps_and_backfilled_over_rest(tmp_path):
    outcome = run(tmp_path, Faults(gap_every=250, gap_size=4))
    stats = outcome.connector.stats
    assert stats.gaps >= 10
    assert stats.backfilled >= outcome.server.gap_trades_withheld
    records = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    opened = {(r["symbol"], r["first_id"]) for r in records if r["status"] == "open"}
    filled = {(r["symbol"], r["first_id"]) for r in records if r["status"] == "filled"}
    assert len(opened) == stats.gaps
    assert opened == filled  # every gap recorded, and recorded as recovered


def test_duplicate_frames_are_forwarded_once(tmp_path):
    outcome = run(tmp_path, Faults(duplicate_every=10))
    assert outcome.connector.stats.duplicates >= outcome.server.duplicates_sent > 0


def test_malformed_frames_are_forwarded_for_the_dead_letter_queue(tmp_path):
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(FRAMES, sink.extend, tmp_path, Faults(malformed_every=300), speed=20.0)
    )
    broken = [frame for frame in sink if frame.startswith(b'{"stream":"broken')]
    assert len(broken) == outcome.server.malformed_sent > 0


def test_refused_connections_wait_at_least_retry_after(tmp_path):
    outcome = run(tmp_path, Faults(refuse_first=2, refuse_status=429, retry_after_s=1))
    assert outcome.connector.stats.reconnects["http_429"] == 2


def test_all_faults_at_once(tmp_path):
    faults = Faults(
        drop_every=500, stall_every=900, stall_s=2.0, shutdown_every=1300,
        duplicate_every=40, malformed_every=450, gap_every=300, gap_size=2,
        refuse_first=1, refuse_status=418, retry_after_s=1,
    )  # fmt: skip
    run(tmp_path, faults)


def test_a_symbol_that_goes_silent_gets_its_connection_replaced(tmp_path):
    """ETHUSDT trades stop after a while (BTCUSDT keeps flowing): the connection is replaced."""
    cutoff = FRAMES[len(FRAMES) // 4].receive_ns
    quiet_eth = [f for f in FRAMES if b"ETHUSDT" not in f.frame or f.receive_ns < cutoff]
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(quiet_eth, sink.extend, tmp_path, speed=20.0, symbol_silence_s=1.0)
    )
    assert outcome.connector.stats.silent_symbol_replacements >= 1
    assert outcome.connector.stats.reconnects["rotation"] >= 1


def test_trades_rest_no_longer_has_are_recorded_as_unfillable_gaps_and_not_asked_again(tmp_path):
    """A gap REST cannot fill is never reported as filled. REST answering with the trade after
    the lost ones proves it will never serve them: the gap is recorded unfillable, with how
    many ids and why, at once rather than after BACKFILL_ATTEMPTS retries, and its ids are
    settled (not open, so a restart does not ask for them again)."""
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(
            FRAMES,
            sink.extend,
            tmp_path,
            Faults(gap_every=400, gap_size=2, gap_lost=True),
            speed=20.0,
            allow_open_gaps=True,
        )
    )
    stats = outcome.connector.stats
    records = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    assert stats.gaps >= 5
    assert {r["status"] for r in records} == {"open", "unfillable"}
    unfillable = [r for r in records if r["status"] == "unfillable"]
    assert sum(r["unserved"] for r in unfillable) == outcome.server.gap_trades_withheld
    assert {r["reason"] for r in unfillable} == {"REST no longer holds them"}
    assert stats.backfill_failures == 0
    assert stats.unserved == outcome.server.gap_trades_withheld
    assert outcome.connector.open_gap_ids == 0
    got, want = delivered_ids(sink), expected_ids(FRAMES)
    for symbol, ids in want.items():
        assert len(got[symbol]) == len(set(got[symbol]))  # still nothing twice
        assert set(got[symbol]) <= set(ids)
    delivered = sum(len(ids) for ids in got.values())
    expected = sum(len(ids) for ids in want.values())
    assert delivered == expected - outcome.server.gap_trades_withheld  # only the lost ones


@pytest.fixture(scope="module")
def whole_market() -> list[RecordedFrame]:
    return list(whole_market_frames(symbols=200, seconds=20.0, seed=3))


def test_a_reconnect_of_many_symbols_asks_one_ticker_and_fetches_only_what_traded(
    tmp_path, whole_market
):
    """200 symbols x 25 weight of historicalTrades probes would be 5,000 weight a reconnect;
    one 24-hour ticker (80) names the symbols whose last id moved - in a whole market most
    did not, in the seconds a reconnect takes - and only those are asked. A quiet symbol whose
    first trades all fell in an outage is found through the ticker's firstId."""
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(whole_market, sink.extend, tmp_path, Faults(drop_every=3_000), speed=1.5)
    )
    assert outcome.drained
    server = outcome.server
    assert server.dropped_connections >= 2
    assert server.ticker_requests >= server.dropped_connections  # one per reconnect
    # per-symbol probes would cost 200 requests a drop; how many symbols trade while away
    # grows with the outage, longer on a loaded machine (66-77 alone, 101 in the suite)
    assert server.rest_requests < 200 * server.dropped_connections / 2
    got = delivered_ids(sink)
    for symbol, ids in expected_ids(whole_market).items():
        assert sorted(got[symbol]) == sorted(ids), symbol
