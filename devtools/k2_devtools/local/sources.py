"""Which Binance market a recording was captured on, read from its frames.

A recording file names no market, and `k2 run --replay` must hand each to the right exchange
host and connector. The trade frames tell: spot trades carry `M` (best match), futures trades
do not (they carry `X`, the execution type); COIN-M contracts are quoted in USD and end in
`_PERP` or a `_YYMMDD` delivery date, USD-M contracts are quoted in USDT or USDC.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
import pyarrow as pa

from k2.binance.frames import TRADE_COLUMNS, ParsedFrames, parse_frames
from k2.binance.recording import RecordedFrame, read_recording, read_recordings
from k2.domain.instrument import DEFAULT_MARKET

COINM_SYMBOL = re.compile(r"^[A-Z0-9]+USD_(PERP|\d{6})$")
SAMPLE_FRAMES = 2_000  # a recording's market shows in its first trades


def frames_market(frames: Iterable[RecordedFrame]) -> str:
    """spot, usdm or coinm, from the first trade frame among `frames` (spot when none)."""
    for recorded in frames:
        data = _trade_data(recorded.frame)
        if data is None:
            continue
        if "M" in data:
            return "spot"
        return "coinm" if COINM_SYMBOL.match(str(data.get("s", ""))) else "usdm"
    return DEFAULT_MARKET


def recording_market(path: Path) -> str:
    return frames_market(itertools.islice(read_recording(path), SAMPLE_FRAMES))


def _trade_data(frame: bytes) -> dict[str, object] | None:
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    data = message.get("data", message) if isinstance(message, dict) else None
    if isinstance(data, dict) and data.get("e") in ("trade", "aggTrade"):
        return data
    return None


def recordings_by_market(paths: Iterable[Path]) -> dict[str, list[Path]]:
    """Recording files grouped by the market each was captured on, in their given order."""
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        grouped.setdefault(recording_market(path), []).append(path)
    return grouped


def parse_recordings(paths: Iterable[Path]) -> ParsedFrames:
    """Every trade of the recordings, each file read as its own market's."""
    return merge_parsed([
        parse_market(list(read_recordings(group)), market)
        for market, group in recordings_by_market(paths).items()
    ])  # fmt: skip


def parse_market(frames: Sequence[RecordedFrame], market: str) -> ParsedFrames:
    """`frames` read as `market`'s connector reads them."""
    return parse_frames([recorded.frame for recorded in frames], [market] * len(frames))


def merge_parsed(parts: Sequence[ParsedFrames]) -> ParsedFrames:
    """Several markets' parsed frames as one account (frame indexes stay per part)."""
    if len(parts) == 1:
        return parts[0]
    return ParsedFrames(
        pa.concat_tables([part.trades for part in parts]) if parts else TRADE_COLUMNS.empty_table(),
        [rejection for part in parts for rejection in part.rejections],
        [non_trade for part in parts for non_trade in part.non_trades],
    )
