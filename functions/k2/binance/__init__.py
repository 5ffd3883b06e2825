"""Binance's wire format -> the domain: frame parsing (a columnar fast path for spot trades and
the strict per-frame specification), symbols, TradeV2 rows, the normalize step over Kinesis
records, recordings and the deterministic frame generator. Depends on k2.domain, never the
reverse."""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.binance.frames import TRADE_COLUMNS, NonTrade, ParsedFrames, Rejection, parse_frames
    from k2.binance.generator import generate_frames
    from k2.binance.normalize import KinesisBatch
    from k2.binance.recording import (
        RecordedFrame,
        read_recording,
        read_recordings,
        write_recording,
    )
    from k2.binance.symbols import SymbolParts, UnknownQuoteAssetError, split_symbol
    from k2.binance.tradev2 import build_tradev2, message_ids

_SOURCES = {
    "TRADE_COLUMNS": "frames", "NonTrade": "frames", "ParsedFrames": "frames",
    "Rejection": "frames", "parse_frames": "frames",
    "generate_frames": "generator",
    "KinesisBatch": "normalize",
    "RecordedFrame": "recording", "read_recording": "recording",
    "read_recordings": "recording", "write_recording": "recording",
    "SymbolParts": "symbols", "UnknownQuoteAssetError": "symbols", "split_symbol": "symbols",
    "build_tradev2": "tradev2", "message_ids": "tradev2",
}  # fmt: skip
__all__ = [
    "TRADE_COLUMNS",
    "KinesisBatch",
    "NonTrade",
    "ParsedFrames",
    "RecordedFrame",
    "Rejection",
    "SymbolParts",
    "UnknownQuoteAssetError",
    "build_tradev2",
    "generate_frames",
    "message_ids",
    "parse_frames",
    "read_recording",
    "read_recordings",
    "split_symbol",
    "write_recording",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
