"""OHLCV bars equal an independent computation in Python Decimal from raw frames."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest

from k2.binance.frames import parse_frames
from k2.binance.generator import generate_frames
from k2.binance.recording import read_recording
from k2.binance.tradev2 import build_tradev2
from k2.domain.bars import ohlcv

pytestmark = pytest.mark.unit


def independent_bars(frames: list[bytes]) -> dict[tuple[str, datetime], dict]:
    trades = defaultdict(list)
    for frame in frames:
        message = json.loads(frame)
        data = message.get("data", message)
        if data.get("e") != "trade":
            continue
        minute = datetime.fromtimestamp(data["T"] // 60_000 * 60, UTC)
        trades[(data["s"], minute)].append(
            (data["T"], data["t"], Decimal(data["p"]), Decimal(data["q"]))
        )
    bars = {}
    for key, rows in trades.items():
        rows.sort()
        volume = sum((q for *_, q in rows), Decimal(0))
        quote = sum((p * q for _, _, p, q in rows), Decimal(0))
        bars[key] = {
            "open": rows[0][2], "high": max(r[2] for r in rows), "low": min(r[2] for r in rows),
            "close": rows[-1][2], "volume": volume, "quote_volume": quote, "trades": len(rows),
            "vwap": (quote / volume).quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN),
        }  # fmt: skip
    return bars


def computed_bars(frames: list[bytes]) -> dict[tuple[str, datetime], dict]:
    parsed = parse_frames(frames)
    table = build_tradev2(parsed.trades, np.zeros(parsed.trades.num_rows, dtype=np.int64))
    return {
        (bar.pop("symbol"), bar.pop("bar_start")): bar for bar in ohlcv(table, "1m").to_pylist()
    }


def test_generated_session_bars_match_exactly():
    frames = [f.frame for f in generate_frames(["BTCUSDT", "ETHUSDT"], 3_000, seed=11)]
    assert computed_bars(frames) == independent_bars(frames)


def test_recorded_session_bars_match_exactly(recordings):
    frames = [r.frame for path in recordings for r in read_recording(path)]
    bars = computed_bars(frames)
    assert bars == independent_bars(frames)
    assert sum(b["trades"] for (s, _), b in bars.items() if s == "BTCUSDT") == 9_757


def test_unknown_interval_is_rejected():
    parsed = parse_frames([])
    with pytest.raises(ValueError, match="interval must be one of"):
        ohlcv(build_tradev2(parsed.trades, np.zeros(0, dtype=np.int64)), "7m")
