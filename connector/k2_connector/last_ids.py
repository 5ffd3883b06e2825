"""Every symbol's last trade id in one REST call: the 24-hour ticker without a symbol.

After a reconnect, the trades a connection missed must be fetched even for a symbol that does
not trade again soon (its next trade would reveal the gap, maybe minutes later). Asking each
symbol's historicalTrades costs 25 weight a symbol on spot: for the ~500 symbols of a
whole-market connection that is 12,500 weight, four minutes of the connector's 3,000-a-minute
budget per dropped connection. The ticker of every symbol weighs 80 (spot) or 40 (futures)
and names each symbol's `lastId`, so only the symbols that did trade are fetched (Binance REST
docs; `lastId` is -1 for a symbol without trades in 24 h).

The same call at start gives each symbol's last id before the connector subscribed: the
sequencer starts there, so a trade between that call and the first frame - or a symbol's
first trade after start, missed in an outage before any other - is a gap like any other,
not a silent loss. A symbol without a trade in the 24 h before start has no such id; what it
trades during an outage is fetched from the ticker's `firstId` after the reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k2_connector.markets import MARKET_APIS
from k2_connector.rest import RestClient


@dataclass(frozen=True)
class IdSpan:
    first_id: int  # -1: no trade in the last 24 h
    last_id: int


def parse_tickers(body: Any) -> dict[str, IdSpan]:
    """symbol -> its first and last trade id of the last 24 h, from a 24-hour ticker list; an
    answer of another shape is an error."""
    if not isinstance(body, list):
        raise ValueError(f"24hr ticker: expected a list, got {type(body).__name__}")
    spans = {}
    for entry in body:
        symbol, first_id, last_id = entry.get("symbol"), entry.get("firstId"), entry.get("lastId")
        if not isinstance(symbol, str) or not isinstance(last_id, int):
            raise ValueError(f"24hr ticker entry without symbol/lastId: {entry!r:.200}")
        spans[symbol] = IdSpan(first_id if isinstance(first_id, int) else -1, last_id)
    return spans


async def fetch_tickers(rest: RestClient, market: str) -> dict[str, IdSpan]:
    api = MARKET_APIS[market]
    return parse_tickers(await rest.get_json(api.rest_path("ticker/24hr"), {}, api.ticker_weight))
