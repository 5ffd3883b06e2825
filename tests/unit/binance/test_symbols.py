"""Binance symbols split into base and quote for every listed quote asset."""

from __future__ import annotations

import pytest

from k2.binance.symbols import UnknownQuoteAssetError, split_symbol

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("symbol", "base", "quote"),
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("1000PEPEUSDT", "1000PEPE", "USDT"),
        ("1000SATSUSDT", "1000SATS", "USDT"),
        ("BTCUPUSDT", "BTCUP", "USDT"),
        ("ETHDOWNUSDT", "ETHDOWN", "USDT"),
        ("BTCEUR", "BTC", "EUR"),
        ("BTCTRY", "BTC", "TRY"),
        ("BTCBRL", "BTC", "BRL"),
        ("USDTTRY", "USDT", "TRY"),
        ("BTCFDUSD", "BTC", "FDUSD"),
        ("BTCTUSD", "BTC", "TUSD"),
        ("USDCUSDT", "USDC", "USDT"),
        ("EURUSDT", "EUR", "USDT"),
        ("BNBETH", "BNB", "ETH"),
        ("SHIBDOGE", "SHIB", "DOGE"),
        ("BTCIDRT", "BTC", "IDRT"),
        ("BTCUSDT_240927", "BTC", "USDT"),
        ("BTCUSD_PERP", "BTC", "USD"),
        ("btcusdt", "BTC", "USDT"),
    ],
)
def test_split(symbol, base, quote):
    parts = split_symbol(symbol)
    assert (parts.base, parts.quote) == (base, quote)


@pytest.mark.parametrize("symbol", ["USDT", "XYZABC", "BTC_PERP"])
def test_unknown_or_quote_only_symbols_raise(symbol):
    with pytest.raises(UnknownQuoteAssetError, match="quote asset"):
        split_symbol(symbol)
