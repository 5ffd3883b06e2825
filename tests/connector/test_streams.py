"""Combined-stream URLs, split under Binance's 1024 streams per connection."""

from __future__ import annotations

import pytest

from k2_connector.streams import BINANCE_WS_URL, connection_urls, stream_names

pytestmark = pytest.mark.unit


def test_one_connection_for_few_symbols():
    streams = stream_names(["BTCUSDT", "ethusdt"], kinds=("trade", "aggTrade"))
    assert connection_urls(BINANCE_WS_URL, streams) == [
        "wss://stream.binance.com:9443/stream?streams="
        "btcusdt@trade/btcusdt@aggTrade/ethusdt@trade/ethusdt@aggTrade"
    ]


def test_streams_beyond_the_limit_get_more_connections():
    streams = stream_names([f"S{i}USDT" for i in range(2050)])
    urls = connection_urls("wss://data-stream.binance.vision/", streams)
    assert [url.count("@trade") for url in urls] == [1024, 1024, 2]
    assert all(url.startswith("wss://data-stream.binance.vision/stream?streams=") for url in urls)
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        connection_urls(BINANCE_WS_URL, streams, per_connection=2000)
