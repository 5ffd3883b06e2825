"""Decide what happens to each frame the websocket delivers.

Trades (and aggTrades) are forwarded once per (symbol, kind, id); repeats are counted and
dropped *as duplicates only*. Control frames (subscription acks, serverShutdown) are acted on and
not forwarded. Anything else, including frames we cannot parse, is forwarded as is: the
normalize function dead-letters it with a reason, so nothing disappears silently here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import orjson

from k2_connector.sequencer import Gap, Sequencer, Verdict


class Action(Enum):
    FORWARD = "forward"
    DUPLICATE = "duplicate"
    SERVER_SHUTDOWN = "server_shutdown"
    IGNORE = "ignore"  # subscription acks


@dataclass(frozen=True)
class Routed:
    action: Action
    gap: Gap | None = None
    symbol: str | None = None  # for trades (new or duplicate)


_ID_FIELD = {"trade": "t", "aggTrade": "a"}


def sequence_key(symbol: str, kind: str) -> str:
    return f"{symbol}@{kind}"


def trade_symbol(frame: bytes) -> str | None:
    """The symbol of a trade or aggTrade frame; None for anything else (or unparseable)."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    data = message.get("data", message) if isinstance(message, dict) else None
    if not isinstance(data, dict) or data.get("e") not in _ID_FIELD:
        return None
    symbol = data.get("s")
    return symbol if isinstance(symbol, str) else None


class Router:
    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer
        self.forwarded_unparsed = 0

    def route(self, frame: bytes) -> Routed:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self.forwarded_unparsed += 1
            return Routed(Action.FORWARD)
        data = message.get("data", message) if isinstance(message, dict) else None
        if not isinstance(data, dict):
            self.forwarded_unparsed += 1
            return Routed(Action.FORWARD)
        event = data.get("e")
        if event == "serverShutdown":
            return Routed(Action.SERVER_SHUTDOWN)
        if "result" in data and "id" in data and event is None:
            return Routed(Action.IGNORE)
        id_field = _ID_FIELD.get(event) if isinstance(event, str) else None
        symbol, trade_id = data.get("s"), data.get(id_field) if id_field else None
        if (
            not isinstance(symbol, str)
            or not isinstance(trade_id, int)
            or isinstance(trade_id, bool)
        ):
            return Routed(Action.FORWARD)  # a non-trade or a malformed trade: normalize decides
        verdict, gap = self.sequencer.observe(sequence_key(symbol, str(event)), int(trade_id))
        if verdict is Verdict.DUPLICATE:
            return Routed(Action.DUPLICATE, symbol=symbol)
        return Routed(Action.FORWARD, gap, symbol)
