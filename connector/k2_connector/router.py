"""Decide what happens to each frame the websocket delivers.

Trades (and aggTrades) are forwarded once per (symbol, kind, id); repeats are counted and
dropped *as duplicates only*. A frame is a trade only if the strict parser (the normalize
function's own specification, k2.binance.strict) reads it as one. Control frames (subscription
acks, serverShutdown) are acted on and not forwarded. Anything else, including frames we
cannot parse, is forwarded as is: the normalize function dead-letters it with a reason, so
nothing disappears silently here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import orjson

from k2.binance.strict import FrameError, classify, exact_spot_trade
from k2.domain.instrument import DEFAULT_MARKET
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
    """Routes the frames of one market's connections (the market decides how a trade frame is
    read, as in normalize: k2.binance.strict)."""

    def __init__(self, sequencer: Sequencer, market: str = DEFAULT_MARKET) -> None:
        self.sequencer, self.market = sequencer, market
        self.forwarded_unparsed = 0
        # symbol -> the newest trade id its aggTrades have covered (their `l`): tells whether a
        # symbol traded since, against the 24-hour ticker's lastId, which counts trade ids
        self.agg_covered: dict[str, int] = {}

    def route(self, frame: bytes) -> Routed:
        """Only a frame the strict parser reads as a trade claims its trade id: a malformed
        copy of a genuine trade, arriving first, must not make the genuine one a duplicate."""
        exact = exact_spot_trade(frame) if self.market == "spot" else None
        if exact is not None:  # nearly every frame: no field-by-field parse needed
            return self._sequence(exact[0], "trade", exact[1])
        try:
            outcome = classify(frame, self.market)
        except FrameError:
            self.forwarded_unparsed += 1
            return Routed(Action.FORWARD)  # normalize dead-letters it, with the reason
        if outcome == "serverShutdown":
            return Routed(Action.SERVER_SHUTDOWN)
        if outcome == "subscriptionAck":
            return Routed(Action.IGNORE)
        if isinstance(outcome, str):
            return Routed(Action.FORWARD)  # a non-trade: normalize counts it
        symbol = outcome["symbol"]
        if outcome["kind"] == "aggTrade":
            covered = self.agg_covered.get(symbol, -1)
            self.agg_covered[symbol] = max(covered, outcome["last_trade_id"])
        return self._sequence(symbol, outcome["kind"], outcome["source_id"])

    def _sequence(self, symbol: str, kind: str, trade_id: int) -> Routed:
        verdict, gap = self.sequencer.observe(sequence_key(symbol, kind), trade_id)
        if verdict is Verdict.DUPLICATE:
            return Routed(Action.DUPLICATE, symbol=symbol)
        return Routed(Action.FORWARD, gap, symbol)
