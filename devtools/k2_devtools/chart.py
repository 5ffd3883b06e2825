"""Charts as self-contained HTML (inline SVG, no scripts, no network) or PNG: candlesticks
with volume for `k2 query ohlcv --chart`, and line charts over time for the `k2 soak` report.
Pure: rows in, bytes out."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

WIDTH, PRICE_HEIGHT, VOLUME_HEIGHT, MARGIN = 960, 360, 100, 60
UP, DOWN = "#26a69a", "#ef5350"


def line_charts_html(series: dict[str, list[tuple[float, float]]], title: str) -> str:
    """One line chart per named series of (seconds, value) points, stacked."""
    charts = [_line_svg(name, points) for name, points in series.items()]
    return _page(title, "\n".join(charts))


def _line_svg(name: str, points: list[tuple[float, float]]) -> str:
    height = 160
    if not points:
        return f"<h3>{escape(name)}</h3><p>No samples.</p>"
    times, values = [p[0] for p in points], [p[1] for p in points]
    t0, t1 = min(times), max(times) or 1.0
    low, high = min(values), max(values)
    spread_t, spread_v = (t1 - t0) or 1.0, (high - low) or 1.0

    def xy(t: float, v: float) -> str:
        x = MARGIN + (t - t0) / spread_t * (WIDTH - 2 * MARGIN)
        y = 10 + (1 - (v - low) / spread_v) * (height - 30)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    return (
        f"<h3>{escape(name)}</h3><svg width='{WIDTH}' height='{height}' role='img'>"
        f"<polyline fill='none' stroke='#1565c0' stroke-width='1.5' points='{line}'/>"
        f"<text x='4' y='16' font-size='11'>{high:,.1f}</text>"
        f"<text x='4' y='{height - 20}' font-size='11'>{low:,.1f}</text>"
        f"<text x='{MARGIN}' y='{height - 4}' font-size='11'>{t0:,.0f} s</text>"
        f"<text x='{WIDTH - MARGIN}' y='{height - 4}' font-size='11' text-anchor='end'>"
        f"{t1:,.0f} s</text></svg>"
    )


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def candlestick_html(bars: Sequence[dict[str, Any]], title: str = "") -> str:
    """One chart per symbol, bars in time order (as the query function returns them)."""
    symbols = sorted({bar["symbol"] for bar in bars})
    charts = [_symbol_svg([b for b in bars if b["symbol"] == s], s) for s in symbols]
    return _page(title or "OHLCV", "\n".join(charts) or "<p>No bars in this range.</p>")


def _symbol_svg(bars: list[dict[str, Any]], symbol: str) -> str:
    highs = [float(b["high"]) for b in bars]
    lows = [float(b["low"]) for b in bars]
    volumes = [float(b["volume"]) for b in bars]
    top, bottom = max(highs), min(lows)
    span = (top - bottom) or 1.0
    most = max(volumes) or 1.0
    step = (WIDTH - 2 * MARGIN) / len(bars)
    body_width = max(1.0, step * 0.7)

    def y(price: float) -> float:
        return MARGIN + (top - price) / span * PRICE_HEIGHT

    shapes = []
    for i, bar in enumerate(bars):
        x = MARGIN + i * step + step / 2
        opened, closed = float(bar["open"]), float(bar["close"])
        colour = UP if closed >= opened else DOWN
        upper, lower = y(max(opened, closed)), y(min(opened, closed))
        volume_height = volumes[i] / most * VOLUME_HEIGHT
        base = MARGIN + PRICE_HEIGHT + 20 + VOLUME_HEIGHT
        shapes.append(
            f"<g><title>{escape(str(bar['bar_start']))} O {bar['open']} H {bar['high']} "
            f"L {bar['low']} C {bar['close']} V {bar['volume']}</title>"
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y(highs[i]):.1f}' y2='{y(lows[i]):.1f}' "
            f"stroke='{colour}'/><rect x='{x - body_width / 2:.1f}' y='{upper:.1f}' "
            f"width='{body_width:.1f}' height='{max(lower - upper, 1):.1f}' fill='{colour}'/>"
            f"<rect x='{x - body_width / 2:.1f}' y='{base - volume_height:.1f}' "
            f"width='{body_width:.1f}' height='{volume_height:.1f}' fill='{colour}' "
            f"opacity='0.5'/></g>"
        )
    height = MARGIN * 2 + PRICE_HEIGHT + 20 + VOLUME_HEIGHT
    labels = (
        f"<text x='4' y='{MARGIN + 4}' font-size='11'>{top:g}</text>"
        f"<text x='4' y='{MARGIN + PRICE_HEIGHT}' font-size='11'>{bottom:g}</text>"
        f"<text x='{MARGIN}' y='{height - 20}' font-size='11'>{escape(str(bars[0]['bar_start']))}"
        f"</text><text x='{WIDTH - MARGIN}' y='{height - 20}' font-size='11' text-anchor='end'>"
        f"{escape(str(bars[-1]['bar_start']))}</text>"
    )
    return (
        f"<h2>{escape(symbol)}</h2><svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' "
        f"height='{height}' role='img' aria-label='{escape(symbol)} candlesticks'>"
        f"{labels}{''.join(shapes)}</svg>"
    )


def candlestick_png(bars: Sequence[dict[str, Any]], width: int = 1200, height: int = 600) -> bytes:
    """The same chart as a PNG (numpy raster + zlib, no plotting library): candles above,
    volume below, one panel per symbol stacked. No text: the HTML chart carries the labels."""
    symbols = sorted({bar["symbol"] for bar in bars}) or [""]
    panel = height // len(symbols)
    image = np.full((panel * len(symbols), width, 3), 255, dtype=np.uint8)
    for index, symbol in enumerate(symbols):
        own = [b for b in bars if b["symbol"] == symbol]
        if own:
            _draw_panel(image[index * panel : (index + 1) * panel], own)
    return _png(image)


def _draw_panel(canvas: np.ndarray, bars: list[dict[str, Any]]) -> None:
    rows, columns = canvas.shape[:2]
    price_rows, volume_top = int(rows * 0.72), int(rows * 0.78)
    highs = np.array([float(b["high"]) for b in bars])
    lows = np.array([float(b["low"]) for b in bars])
    volumes = np.array([float(b["volume"]) for b in bars])
    top, span = highs.max(), (highs.max() - lows.min()) or 1.0
    step = columns / len(bars)

    def y(price: float) -> int:
        return int(4 + (top - price) / span * (price_rows - 8))

    for i, bar in enumerate(bars):
        left, right = (
            int(i * step + step * 0.15),
            max(int(i * step + step * 0.85), int(i * step) + 1),
        )
        middle = int(i * step + step / 2)
        opened, closed = float(bar["open"]), float(bar["close"])
        colour = _RGB[UP] if closed >= opened else _RGB[DOWN]
        canvas[y(highs[i]) : y(lows[i]) + 1, middle] = colour
        canvas[y(max(opened, closed)) : y(min(opened, closed)) + 1, left:right] = colour
        bar_height = int(volumes[i] / (volumes.max() or 1.0) * (rows - volume_top - 4))
        canvas[rows - 4 - bar_height : rows - 4, left:right] = colour // 2 + 127


def _png(image: np.ndarray) -> bytes:
    height, width = image.shape[:2]
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))  # filter: none

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))  # fmt: skip


_RGB = {UP: np.array([0x26, 0xA6, 0x9A], np.uint8), DOWN: np.array([0xEF, 0x53, 0x50], np.uint8)}
