"""`k2 query ohlcv --chart`: interactive candlesticks with volume (HTML) or a titled PNG."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from matplotlib import image

from k2_devtools.chart import DOWN, UP, candlestick_figure, candlestick_html, candlestick_png

pytestmark = pytest.mark.unit
OHLCV = [
    ("10", "12", "9", "11", "5"),
    ("11", "11.5", "8", "8.5", "9"),
    ("8.5", "10", "8", "9.5", "2"),
]
BARS = [
    {"market": "spot", "symbol": "BTCUSDT", "bar_start": f"2024-08-08T23:5{i}:00Z", "open": o,
     "high": h, "low": lo, "close": c, "volume": v}
    for i, (o, h, lo, c, v) in enumerate(OHLCV)
]  # fmt: skip
FUTURES = [bar | {"market": "usdm", "open": "20"} for bar in BARS]


def test_each_instrument_gets_candles_on_a_time_axis_and_coloured_volume():
    figure = candlestick_figure(BARS + FUTURES, "BTCUSDT 1m")
    candles = [trace for trace in figure.data if trace.type == "candlestick"]
    assert [trace.name for trace in candles] == ["BTCUSDT", "usdm:BTCUSDT"]
    spot = candles[0]
    assert list(spot.open) == [10, 11, 8.5]
    assert list(spot.close) == [11, 8.5, 9.5]
    assert list(spot.high) == [12, 11.5, 10]
    assert list(spot.low) == [9, 8, 8]
    assert spot.x[0] == datetime(2024, 8, 8, 23, 50, tzinfo=UTC)  # time, not bar numbers
    volume = next(trace for trace in figure.data if trace.type == "bar")
    assert list(volume.y) == [5, 9, 2]
    assert list(volume.marker.color) == [UP, DOWN, UP]
    assert figure.layout.hovermode == "x unified"  # the crosshair reads every panel at once
    assert figure.layout.xaxis.showspikes
    assert figure.layout.dragmode == "pan"


def test_the_html_page_is_self_contained():
    html = candlestick_html(BARS, "BTCUSDT 1m")
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js inlined: no network to view
    assert len(html) > 1_000_000
    assert "Plotly.newPlot" in html
    assert '"scrollZoom": true' in html


def test_the_png_is_titled_and_draws_both_directions():
    png = candlestick_png(BARS, "BTCUSDT 1m", width=600, height=400)
    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (400, 600)
    rgb = np.round(pixels[..., :3] * 255).astype(int).reshape(-1, 3)
    colours = {tuple(c) for c in rgb}
    assert (0x26, 0xA6, 0x9A) in colours
    assert (0xEF, 0x53, 0x50) in colours
