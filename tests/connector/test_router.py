"""What the connector does with each kind of frame."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from k2.binance.generator import generate_frames
from k2_connector.router import Action, Router
from k2_connector.sequencer import Gap, Sequencer
from k2_devtools.replay_server import ReplayServer
from tests.support.frames import frame, payload

pytestmark = pytest.mark.unit


def trade(trade_id: int) -> bytes:
    return frame("spot_trade", t=trade_id)


def aggregate(aggregate_id: int) -> bytes:
    return payload("spot_agg_trade", s="BTCUSDT", a=aggregate_id)


@pytest.mark.parametrize(
    "raw",
    [payload("server_shutdown"), frame("server_shutdown")],
)
def test_server_shutdown_in_raw_and_combined_form(raw):
    assert Router(Sequencer()).route(raw).action is Action.SERVER_SHUTDOWN


def test_trades_are_forwarded_once_and_gaps_reported():
    router = Router(Sequencer())
    assert router.route(trade(1)).action is Action.FORWARD
    assert router.route(trade(1)).action is Action.DUPLICATE
    routed = router.route(trade(4))
    assert routed.gap == Gap("BTCUSDT@trade", 2, 3)
    assert router.route(aggregate(1)).action is Action.FORWARD  # aggregate ids are their own series


def test_acks_are_ignored_and_anything_unparseable_is_forwarded_for_the_dead_letter_queue():
    router = Router(Sequencer())
    assert router.route(b'{"result":null,"id":1}').action is Action.IGNORE
    assert router.route(b"{broken").action is Action.FORWARD
    assert router.route(b'{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}').action is (
        Action.FORWARD
    )
    assert router.forwarded_unparsed == 1


def test_the_raw_stream_path_sends_bare_payloads_of_one_stream():
    frames = list(generate_frames(["BTCUSDT", "ETHUSDT"], 50, seed=2))

    async def scenario() -> list[str]:
        async with (
            ReplayServer(frames, speed=0) as server,
            connect(server.url + "/ws/ethusdt@trade") as websocket,
        ):
            return [message async for message in websocket]  # type: ignore[misc]

    messages = asyncio.run(scenario())
    assert len(messages) == 50
    assert all(m.startswith('{"e":"trade"') and '"s":"ETHUSDT"' in m for m in messages)


def test_a_malformed_copy_of_a_trade_never_claims_its_id():
    """A hostile frame with a genuine trade's id but a bad price arrives first: it is
    forwarded (normalize dead-letters it) and the genuine trade is still forwarded, not dropped
    as a duplicate."""
    router = Router(Sequencer())
    assert router.route(frame("spot_trade", t=7, p="abc")).action is Action.FORWARD
    assert router.route(frame("spot_trade", t=7, T=1)).action is Action.FORWARD  # 1970
    assert router.forwarded_unparsed == 2
    assert router.route(trade(7)).action is Action.FORWARD
    assert router.route(trade(7)).action is Action.DUPLICATE
