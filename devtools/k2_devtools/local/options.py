"""What `k2 run` and `k2 local up` can be asked, with their defaults.

Kept apart from the runners (k2_devtools.local.pipeline, .stack_up), which import moto, the
connector and pyarrow: the CLI shows these defaults in its help without importing any of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from k2.config import MappingSettings
from k2_connector.streams import BINANCE_REST_URL, BINANCE_WS_URL

# The deployed mapping, with a shorter batching window: a local run has seconds of data.
LOCAL_MAPPING = MappingSettings(batching_window_s=0.5)


@dataclass(frozen=True)
class RunOptions:
    replay: Sequence[Path] = ()
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
    trades_per_symbol: int = 5_000
    seed: int = 7
    endpoint_url: str | None = None
    shards: int = 2
    mapping: MappingSettings = LOCAL_MAPPING
    bars: int = 5
    live: bool = False  # the connector on Binance itself instead of the replay server
    duration_s: float | None = None  # stop after this long (live: default until Ctrl-C)
    ws_url: str = BINANCE_WS_URL  # --live only; any Binance-compatible server
    rest_url: str | None = BINANCE_REST_URL
    # "whole-market": generate k2.binance.generator.whole_market_frames instead of `symbols`
    preset: str | None = None
    preset_symbols: int = 1_500
    preset_seconds: float = 60.0


PRESETS = ("whole-market",)

# The stage of a run's `seconds` that reads or generates the source and parses what the lake
# must hold: the exchange's side and the referee's, not the pipeline's work. Reported, and
# left out of throughput figures (bench/bench_market.py).
SOURCE_STAGE = "source"


@dataclass(frozen=True)
class UpOptions:
    replay: Sequence[Path] = ()
    live: bool = False  # connect to Binance itself (needs internet)
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT")
    trades_per_symbol: int = 50_000  # generated source: about an hour at recorded pace
    speed: float = 1.0  # replay pace: 1 = as recorded, 0 = as fast as possible
    port: int = 8765
    endpoint_url: str | None = None
    shards: int = 2
    mapping: MappingSettings = LOCAL_MAPPING
    status_every_s: float = 5.0
    commit_every_s: float = 60.0  # the Iceberg committer's timer (every few minutes in AWS)
