"""Which symbols a whole-market connector streams: every TRADING symbol of its market, read
from the market's `exchangeInfo`, polled so listings and delistings are followed without a
restart.

exchangeInfo names a symbol's state `status` on spot and USD-M and `contractStatus` on COIN-M
(Binance REST docs). A symbol is streamed while TRADING. One that turns TRADING after the first
poll is a *new listing* when it was absent from that first poll or only about to trade
(PRE_TRADING, PENDING_TRADING): its trades since the first one are all wanted, so the
connector fetches them over REST before it subscribes (k2_connector.app).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from k2_connector.markets import MARKET_APIS
from k2_connector.rest import RestClient

TRADING = "TRADING"
NOT_YET_TRADING = frozenset({"PRE_TRADING", "PENDING_TRADING"})


@dataclass(frozen=True)
class Listing:
    """One exchangeInfo answer: each symbol's status."""

    statuses: dict[str, str]

    @property
    def trading(self) -> frozenset[str]:
        return frozenset(s for s, status in self.statuses.items() if status == TRADING)

    def new_listings(self, now_trading: Iterable[str]) -> set[str]:
        """Of `now_trading`, the symbols this (earlier) listing did not show as trading or
        halted: absent, or not yet trading."""
        return {
            symbol for symbol in now_trading
            if self.statuses.get(symbol, "PRE_TRADING") in NOT_YET_TRADING
        }  # fmt: skip


def parse_exchange_info(body: Any, market: str) -> Listing:
    """The symbol statuses of an exchangeInfo body; a body of another shape is an error, never
    an empty market (which would unsubscribe everything)."""
    field = MARKET_APIS[market].status_field
    symbols = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(symbols, list) or not symbols:
        raise ValueError("exchangeInfo without symbols")
    statuses: dict[str, str] = {}
    for entry in symbols:
        symbol, status = entry.get("symbol"), entry.get(field)
        if not isinstance(symbol, str) or not isinstance(status, str):
            raise ValueError(f"exchangeInfo symbol entry without symbol/{field}: {entry!r:.200}")
        statuses[symbol] = status
    return Listing(statuses)


async def fetch_listing(rest: RestClient, market: str) -> Listing:
    api = MARKET_APIS[market]
    body = await rest.get_json(api.rest_path("exchangeInfo"), {}, api.exchange_info_weight)
    return parse_exchange_info(body, market)
