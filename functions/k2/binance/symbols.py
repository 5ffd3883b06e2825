"""Split Binance symbols into base and quote assets.

Binance symbols are a plain concatenation (`1000PEPEUSDT`, `BTCUPUSDT`, `BTCTRY`), so the split
is a longest-suffix match against the quote assets Binance lists. Delivery futures carry a
`_YYMMDD` suffix and COIN-M perpetuals `_PERP`; both are stripped before the match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# Quote assets listed on Binance spot and futures (stablecoins, crypto quotes and fiat).
QUOTE_ASSETS: frozenset[str] = frozenset(
    {
        # stablecoins and USD-like
        "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD", "USDS", "PAX", "UST",
        "VAI", "AEUR", "EURI", "IDRT", "BIDR", "BVND", "BKRW", "XUSD", "USD1",
        # crypto quotes
        "BTC", "ETH", "BNB", "XRP", "TRX", "DOGE", "DOT", "SOL", "JPY",
        # fiat
        "EUR", "GBP", "TRY", "BRL", "AUD", "RUB", "UAH", "NGN", "ZAR", "PLN", "RON", "ARS",
        "MXN", "COP", "CZK", "IDR", "KZT", "VND", "INR", "CHF", "CAD", "SEK", "NZD", "HKD",
    }
)  # fmt: skip

_CONTRACT_SUFFIX = re.compile(r"_(?:PERP|\d{6})$")
_LONGEST_QUOTE_FIRST = sorted(QUOTE_ASSETS, key=len, reverse=True)


@dataclass(frozen=True)
class SymbolParts:
    base: str
    quote: str


class UnknownQuoteAssetError(ValueError):
    """The symbol ends in no quote asset Binance lists."""


@cache
def split_symbol(symbol: str) -> SymbolParts:
    """`1000PEPEUSDT` -> (1000PEPE, USDT); `BTCUSDT_240927` -> (BTC, USDT).

    Raises UnknownQuoteAssetError when no listed quote asset ends the symbol.
    """
    pair = _CONTRACT_SUFFIX.sub("", symbol.upper())
    for quote in _LONGEST_QUOTE_FIRST:
        if pair.endswith(quote) and len(pair) > len(quote):
            return SymbolParts(base=pair[: -len(quote)], quote=quote)
    raise UnknownQuoteAssetError(f"no known quote asset ends symbol {symbol!r}")
