"""A whole-market connector streams what exchangeInfo lists as TRADING, and follows listings
and delistings while it runs, without a restart and without losing a new listing's first
trades."""

from __future__ import annotations

import asyncio

import pytest

from k2.binance.generator import generate_frames
from k2_connector.app import Connector
from k2_connector.listings import Listing, parse_exchange_info
from k2_devtools.replay_server import ReplayServer
from tests.support.connector_harness import (
    caught_up,
    connector_settings,
    delivered_ids,
    expected_ids,
)

FRAMES = list(generate_frames(["AAAUSDT", "BBBUSDT", "CCCUSDT", "NEWUSDT"], 600, seed=5))
PLAY_S = 3.0  # the recording plays over about this long
SPEED = (FRAMES[-1].receive_ns - FRAMES[0].receive_ns) / 1e9 / PLAY_S


def test_exchange_info_statuses_per_market():
    spot = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING"},
                        {"symbol": "OLDUSDT", "status": "BREAK"}]}  # fmt: skip
    coinm = {"symbols": [{"symbol": "BTCUSD_PERP", "contractStatus": "TRADING"}]}
    assert parse_exchange_info(spot, "spot").trading == {"BTCUSDT"}
    assert parse_exchange_info(coinm, "coinm").trading == {"BTCUSD_PERP"}


@pytest.mark.parametrize(
    "body",
    [{}, {"symbols": []}, [], {"symbols": [{"symbol": "BTCUSDT"}]}, {"code": -1003}],
)
def test_an_exchange_info_without_symbols_is_an_error_never_an_empty_market(body):
    with pytest.raises(ValueError, match="exchangeInfo"):
        parse_exchange_info(body, "spot")


def test_a_new_listing_is_a_symbol_that_was_absent_or_not_yet_trading_at_start():
    first = Listing({"AUSDT": "TRADING", "BUSDT": "BREAK", "CUSDT": "PRE_TRADING"})
    assert first.new_listings(["BUSDT", "CUSDT", "DUSDT"]) == {"CUSDT", "DUSDT"}


async def stream_listed(tmp_path, statuses, change=None, **overrides):
    """Run a whole-market connector on a replay server listing `statuses`; `change(server,
    connector)` runs once a third of the recording has played."""
    sink: list[bytes] = []
    async with ReplayServer(FRAMES, speed=SPEED, ping_interval_s=1.0, ping_timeout_s=2.0,
                            statuses=statuses) as server:  # fmt: skip
        settings = connector_settings(server, tmp_path, (), all_symbols=True,
                                      listing_refresh_s=0.2, **overrides)  # fmt: skip
        connector = Connector(settings, sink.extend)
        running = asyncio.create_task(connector.run())
        while server.stats.frames_published < len(FRAMES) / 3:
            await asyncio.sleep(0.02)
        if change:
            change(server, connector)
        trading = {s for s, status in server.statuses.items() if status == "TRADING"}
        want = {s: ids for s, ids in expected_ids(FRAMES).items() if s in trading}
        deadline = asyncio.get_running_loop().time() + 30
        while not (server.finished.is_set() and caught_up(connector, want)):
            assert asyncio.get_running_loop().time() < deadline, "connector did not catch up"
            await asyncio.sleep(0.05)
        connector.stop()
        await running
    return connector, server, want, delivered_ids(sink)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_every_trading_symbol_is_streamed_and_no_other(tmp_path):
    statuses = {"AAAUSDT": "TRADING", "BBBUSDT": "TRADING", "CCCUSDT": "BREAK"}
    connector, server, _, got = asyncio.run(stream_listed(tmp_path, statuses))
    assert sorted(connector.symbols) == ["AAAUSDT", "BBBUSDT"]
    assert set(got) == {"AAAUSDT", "BBBUSDT"}
    assert server.stats.exchange_info_requests >= 2  # the first read, then the polls


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_new_listing_is_streamed_from_its_first_trade_without_a_restart(tmp_path):
    statuses = {"AAAUSDT": "TRADING", "BBBUSDT": "TRADING"}

    def list_new(server, _connector):
        server.statuses["NEWUSDT"] = "TRADING"

    connector, _, want, got = asyncio.run(stream_listed(tmp_path, statuses, list_new))
    assert connector.stats.listed == 1
    assert connector.stats.backfilled > 0  # its trades before the poll came over REST
    for symbol, ids in want.items():
        assert sorted(got[symbol]) == sorted(ids), symbol  # every id, exactly once


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_delisted_symbol_s_connection_is_closed_and_the_others_carry_on(tmp_path):
    statuses = dict.fromkeys(["AAAUSDT", "BBBUSDT", "CCCUSDT"], "TRADING")

    def delist(server, _connector):
        del server.statuses["CCCUSDT"]

    connector, _, want, got = asyncio.run(
        stream_listed(tmp_path, statuses, delist, streams_per_connection=1)
    )
    assert connector.stats.delisted == 1
    assert [s.url.rsplit("=", 1)[-1] for s in connector.supervisors] == [
        "aaausdt@trade", "bbbusdt@trade",
    ]  # fmt: skip
    for symbol in ("AAAUSDT", "BBBUSDT"):
        assert sorted(got[symbol]) == sorted(want[symbol]), symbol
    assert len(got["CCCUSDT"]) < len(expected_ids(FRAMES)["CCCUSDT"])  # it stopped
