"""One instrument identity everywhere: (exchange, market, symbol).

BTCUSDT is both a spot pair and a USD-M perpetual, with independent trade-id sequences, so the
symbol alone never identifies an instrument. Within one exchange (Binance here) the key is
`<market>:<SYMBOL>` - the connector's Kinesis partition keys, which the normalize function
reads back to know which market each frame came from: the subscription decides the market,
never the fields a frame happens to carry.
"""

from __future__ import annotations

MARKETS = ("spot", "usdm", "coinm")
DEFAULT_MARKET = "spot"  # a record whose key names no market (older writers, hand-made events)
# TradeV2's `exchange` per market: futures trade ids are sequences of their own, so each market
# is its own exchange in a trade's identity (message_id, dedupe, ledger).
EXCHANGE_BY_MARKET = {"spot": "BINANCE", "usdm": "BINANCE_FUTURES", "coinm": "BINANCE_COINM"}
MARKET_BY_EXCHANGE = {exchange: market for market, exchange in EXCHANGE_BY_MARKET.items()}


def instrument_key(market: str, symbol: str) -> str:
    """The key of `symbol` on `market`, e.g. `usdm:BTCUSDT`."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; one of {', '.join(MARKETS)}")
    return f"{market}:{symbol}"


def market_of(key: str) -> str:
    """The market a partition key names; the default market for a key that names none."""
    market, separator, _ = key.partition(":")
    return market if separator and market in MARKETS else DEFAULT_MARKET


def instrument_label(market: str, symbol: str) -> str:
    """How reports name an instrument: the bare symbol on spot (as they always have), the
    instrument key elsewhere (`usdm:BTCUSDT`), so two markets never share a line."""
    return symbol if market == DEFAULT_MARKET else instrument_key(market, symbol)
