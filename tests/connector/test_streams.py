"""Combined-stream URLs, split under Binance's 1024 streams per connection and a URL length
that HTTP servers accept."""

from __future__ import annotations

import pytest

from k2_connector.streams import (
    BINANCE_WS_URL,
    MAX_URL_BYTES,
    connection_urls,
    describe_url,
    stream_names,
    stream_symbols,
)

pytestmark = pytest.mark.unit


def test_one_connection_for_few_symbols():
    streams = stream_names(["BTCUSDT", "ethusdt"], kinds=("trade", "aggTrade"))
    assert connection_urls(BINANCE_WS_URL, streams) == [
        "wss://stream.binance.com:9443/stream?streams="
        "btcusdt@trade/btcusdt@aggTrade/ethusdt@trade/ethusdt@aggTrade"
    ]


def test_streams_beyond_the_limit_get_more_connections():
    streams = stream_names([f"S{i}" for i in range(250)])
    urls = connection_urls("wss://data-stream.binance.vision/", streams, per_connection=100)
    assert [url.count("@trade") for url in urls] == [100, 100, 50]
    assert all(url.startswith("wss://data-stream.binance.vision/stream?streams=") for url in urls)
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        connection_urls(BINANCE_WS_URL, streams, per_connection=2000)


def test_long_stream_names_split_before_the_url_gets_too_long():
    streams = stream_names([f"S{i:04d}USDT" for i in range(1_500)])
    urls = connection_urls(BINANCE_WS_URL, streams)
    assert all(len(url) <= MAX_URL_BYTES for url in urls)
    assert len(urls) == 4
    assert [s for url in urls for s in url.split("streams=")[1].split("/")] == streams


def test_a_long_url_is_logged_by_its_first_and_last_stream():
    (url,) = connection_urls(BINANCE_WS_URL, stream_names([f"S{i:03d}USDT" for i in range(300)]))
    assert describe_url(url) == (
        "wss://stream.binance.com:9443/stream (300 streams: s000usdt@trade .. s299usdt@trade)"
    )
    short = connection_urls(BINANCE_WS_URL, ["btcusdt@trade"])[0]
    assert describe_url(short) == short


def test_each_connection_knows_its_own_symbols_and_no_other():
    symbols = [f"S{i:04d}USDT" for i in range(1_500)] + ["WBTCUSDT", "BTCUSDT"]
    urls = connection_urls(BINANCE_WS_URL, stream_names(symbols))
    owned = [stream_symbols(url) for url in urls]
    assert sum(map(len, owned)) == len(symbols)
    assert set().union(*owned) == {s.lower() for s in symbols}
    assert "btcusdt" in owned[-1]
    assert "wbtcusdt" in owned[-1]
    assert stream_symbols("wss://stream.binance.com:9443/ws/btcusdt@trade") == {"btcusdt"}
