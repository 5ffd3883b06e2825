"""A candlestick chart with volume as one self-contained HTML file (inline SVG, no scripts,
no network): what `k2 query ohlcv --chart out.html` writes. Pure: rows in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, PRICE_HEIGHT, VOLUME_HEIGHT, MARGIN = 960, 360, 100, 60
UP, DOWN = "#26a69a", "#ef5350"


def candlestick_html(bars: Sequence[dict[str, Any]], title: str = "") -> str:
    """One chart per symbol, bars in time order (as the query function returns them)."""
    symbols = sorted({bar["symbol"] for bar in bars})
    charts = [_symbol_svg([b for b in bars if b["symbol"] == s], s) for s in symbols]
    body = "\n".join(charts) or "<p>No bars in this range.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title or 'OHLCV')}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{escape(title or 'OHLCV')}</h1>{body}</body></html>"
    )


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
