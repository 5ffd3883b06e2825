"""`k2 query ohlcv --chart`: candlesticks with volume as HTML/SVG or PNG."""

from __future__ import annotations

import struct
import zlib

import pytest

from k2_devtools.chart import candlestick_html, candlestick_png

pytestmark = pytest.mark.unit
OHLCV = [
    ("10", "12", "9", "11", "5"),
    ("11", "11.5", "8", "8.5", "9"),
    ("8.5", "10", "8", "9.5", "2"),
]
BARS = [
    {"symbol": "BTCUSDT", "bar_start": f"2024-08-08T23:5{i}:00Z", "open": o, "high": h,
     "low": lo, "close": c, "volume": v}
    for i, (o, h, lo, c, v) in enumerate(OHLCV)
]  # fmt: skip


def test_html_chart_has_a_candle_and_a_volume_bar_per_bar_coloured_by_direction():
    html = candlestick_html(BARS, "BTCUSDT 1m")
    assert html.count("<rect") == 2 * len(BARS)
    assert html.count("#26a69a") == 3 * 2  # two rising bars: wick, body, volume
    assert html.count("#ef5350") == 3 * 1  # one falling bar
    assert "2024-08-08T23:50:00Z O 10 H 12 L 9 C 11 V 5" in html  # tooltip with exact values


def test_png_chart_is_a_valid_rgb_image_with_both_colours():
    png = candlestick_png(BARS, width=300, height=200)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (300, 200)
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8 : start - 4])[0]
    pixels = zlib.decompress(png[start : start + length])
    assert len(pixels) == height * (1 + width * 3)
    assert bytes([0x26, 0xA6, 0x9A]) in pixels  # rising candles
    assert bytes([0xEF, 0x53, 0x50]) in pixels  # the falling one
