"""The recorded Binance session in ../shared (third-party data: read in place, never copied)."""

from __future__ import annotations

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance"
BTC_RECORDING = RECORDINGS / "spot_btcusdt_20240808.gz"
ETH_RECORDING = RECORDINGS / "spot_ethusdt_20240808.gz"
# The recording's README: contiguous trade ids per symbol.
RECORDED_TRADE_IDS = {
    "BTCUSDT": range(3735683259, 3735693015 + 1),
    "ETHUSDT": range(1520538925, 1520545030 + 1),
}
