"""Charts of query answers: interactive HTML with plotly, PNG with matplotlib.

`k2 query ohlcv --chart bars.html` writes candlesticks with volume for every instrument of the
answer on a time axis, with zoom, pan, a crosshair and a range slider, in one self-contained
file: plotly's JavaScript (MIT licence, shipped inside the plotly package) is inlined, so the
page needs no network when it is opened. `--chart bars.png` draws the same with matplotlib
(PSF-based licence), titled, with labelled axes. `line_charts_html` draws the soak report's
time series. Both libraries are developer tools: no Lambda package imports this module.

Rows are the query function's JSON rows (decimals as strings, times as ISO 8601).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

UP, DOWN = "#26a69a", "#ef5350"
Bar = dict[str, Any]


def instruments(bars: Sequence[Bar]) -> dict[str, list[Bar]]:
    """Bars per instrument label (`BTCUSDT` on spot, `usdm:BTCUSDT` elsewhere), in order."""
    grouped: dict[str, list[Bar]] = {}
    for bar in bars:
        market = bar.get("market", "spot")
        label = bar["symbol"] if market == "spot" else f"{market}:{bar['symbol']}"
        grouped.setdefault(label, []).append(bar)
    return grouped


def candlestick_figure(bars: Sequence[Bar], title: str) -> Any:
    """A plotly figure: per instrument, candles over a volume panel sharing the time axis."""
    from plotly.subplots import make_subplots

    grouped = instruments(bars)
    rows = 2 * max(1, len(grouped))
    heights = [0.75, 0.25] * (rows // 2)
    figure = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=heights
    )
    for index, (label, own) in enumerate(grouped.items()):
        times = [_time(bar["bar_start"]) for bar in own]
        opens, closes = _numbers(own, "open"), _numbers(own, "close")
        figure.add_candlestick(
            x=times,
            open=opens,
            high=_numbers(own, "high"),
            low=_numbers(own, "low"),
            close=closes,
            name=label,
            increasing_line_color=UP,
            decreasing_line_color=DOWN,
            row=2 * index + 1,
            col=1,
        )
        colours = [UP if c >= o else DOWN for o, c in zip(opens, closes, strict=True)]
        figure.add_bar(
            x=times,
            y=_numbers(own, "volume"),
            name=f"{label} volume",
            marker_color=colours,
            showlegend=False,
            row=2 * index + 2,
            col=1,
        )
        figure.update_yaxes(title_text=f"{label} price", row=2 * index + 1, col=1)
        figure.update_yaxes(title_text="volume", row=2 * index + 2, col=1)
    figure.update_layout(
        title=title,
        hovermode="x unified",
        dragmode="pan",
        template="plotly_white",
        height=max(480, 420 * len(grouped)),
        margin={"l": 70, "r": 30, "t": 60, "b": 40},
    )
    figure.update_xaxes(
        showspikes=True,
        spikemode="across",
        spikesnap="cursor",
        rangeslider_visible=False,
        title_text=None,
    )
    figure.update_xaxes(title_text="time (UTC)", row=rows, col=1)
    figure.update_yaxes(showspikes=True, spikemode="across")
    return figure


def candlestick_html(bars: Sequence[Bar], title: str) -> str:
    """A self-contained page (plotly.js inlined): scroll to zoom, drag to pan."""
    figure = candlestick_figure(bars, title)
    return str(
        figure.to_html(
            include_plotlyjs=True, full_html=True, config={"scrollZoom": True, "displaylogo": False}
        )
    )


def candlestick_png(bars: Sequence[Bar], title: str, width: int = 1200, height: int = 700) -> bytes:
    """Candles over volume per instrument, with a title, a time axis and price/volume axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    grouped = instruments(bars) or {"(no bars)": []}
    figure, axes = plt.subplots(
        2 * len(grouped),
        1,
        sharex=True,
        figsize=(width / 100, height * len(grouped) / 100),
        dpi=100,
        gridspec_kw={"height_ratios": [3, 1] * len(grouped)},
        squeeze=False,
        layout="constrained",
    )
    for index, (label, own) in enumerate(grouped.items()):
        price, volume = axes[2 * index][0], axes[2 * index + 1][0]
        _draw_candles(price, volume, own)
        price.set_ylabel(f"{label} price")
        volume.set_ylabel("volume")
        price.grid(True, alpha=0.3)
    axis = axes[-1][0].xaxis
    locator = mdates.AutoDateLocator()
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[-1][0].set_xlabel("time (UTC)")
    figure.suptitle(title)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    plt.close(figure)
    return out.getvalue()


def _draw_candles(price: Any, volume: Any, bars: Sequence[Bar]) -> None:
    if not bars:
        return
    times = [_time(bar["bar_start"]) for bar in bars]
    width = _bar_width(times)
    for at, bar in zip(times, bars, strict=True):
        o, h, lo, c = (float(bar[key]) for key in ("open", "high", "low", "close"))
        colour = UP if c >= o else DOWN
        price.vlines(at, lo, h, color=colour, linewidth=1)
        body = max(abs(c - o), (h - lo) * 0.01 or 1e-12)
        price.bar(at, body, width, min(o, c), color=colour, align="center")
        volume.bar(at, float(bar["volume"]), width, color=colour, align="center")


def _bar_width(times: list[datetime]) -> float:
    """0.7 of the spacing between bars, in matplotlib's date units (days)."""
    if len(times) < 2:
        return 0.0005
    spacing = min((b - a).total_seconds() for a, b in itertools.pairwise(times))
    return 0.7 * max(spacing, 1.0) / 86_400


def line_charts_html(series: dict[str, list[tuple[float, float]]], title: str) -> str:
    """One line chart per named series of (seconds, value) points, stacked, self-contained."""
    from plotly.subplots import make_subplots

    names = list(series) or ["(no samples)"]
    figure = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names)
    for row, name in enumerate(names, start=1):
        points = series.get(name, [])
        figure.add_scatter(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            name=name,
            mode="lines",
            row=row,
            col=1,
        )
    figure.update_layout(
        title=title,
        showlegend=False,
        height=max(300, 220 * len(names)),
        template="plotly_white",
        hovermode="x unified",
    )
    figure.update_xaxes(title_text="seconds", row=len(names), col=1)
    return str(figure.to_html(include_plotlyjs=True, full_html=True))


def _numbers(bars: Sequence[Bar], key: str) -> list[float]:
    return [float(bar[key]) for bar in bars]


def _time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
