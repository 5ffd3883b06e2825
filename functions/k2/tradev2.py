"""Parsed Binance trade columns -> a TradeV2 Arrow table, built column-wise.

message_id is a UUID version 8 (RFC 9562, vendor-defined layout) that is a pure function of
(exchange, symbol, kind, source id): 60 bits of SHA-256 over "exchange|symbol|kind", then the
62-bit exchange id. Unique per trade, identical on every re-delivery, and computed for a whole
batch with numpy (a uuid5 per row would cost more than the rest of normalization together).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2 import schema
from k2.binance.frames import TRADE_COLUMNS
from k2.binance.symbols import UnknownQuoteAssetError, split_symbol

EXCHANGE_BY_MARKET = {"spot": "BINANCE", "futures": "BINANCE_FUTURES"}
ASSET_CLASS_BY_MARKET = {"spot": "crypto", "futures": "futures"}
UNKNOWN_QUOTE = "UNKNOWN"
AGGREGATED_CONDITION = "AGGREGATED"  # aggTrade rows stand for several exchange trades

# vendor_data keys, in the order they appear in each row's map (absent values are skipped).
VENDOR_KEYS = (
    "event_time",
    "is_buyer_maker",
    "is_best_match",
    "base_asset",
    "quote_asset",
    "stream",
    "first_trade_id",
    "last_trade_id",
    "execution_type",
    "unmapped",
)


def build_tradev2(trades: pa.Table, ingestion_us: np.ndarray) -> pa.Table:
    """TradeV2 rows for `trades` (k2.binance.frames.TRADE_COLUMNS).

    ingestion_us: per row, when the platform accepted the frame (epoch microseconds).
    """
    if trades.schema != TRADE_COLUMNS:
        raise TypeError("build_tradev2 expects k2.binance.frames.TRADE_COLUMNS")
    rows = trades.num_rows
    market = trades["market"].combine_chunks()
    kind = trades["kind"].combine_chunks()
    symbol = trades["symbol"].combine_chunks()
    source_id = trades["source_id"].combine_chunks()
    exchange = _lookup(market, EXCHANGE_BY_MARKET)
    base, quote = _split_symbols(symbol)
    is_aggregate = pc.equal(kind, "aggTrade")
    id_prefix = pc.if_else(
        is_aggregate,
        pc.binary_join_element_wise(exchange, "-AGG-", ""),
        pc.binary_join_element_wise(exchange, "-", ""),
    )
    columns = {
        "message_id": message_ids(exchange, symbol, kind, source_id),
        "trade_id": pc.binary_join_element_wise(id_prefix, pc.cast(source_id, pa.string()), ""),
        "symbol": symbol,
        "exchange": exchange,
        "asset_class": _lookup(market, ASSET_CLASS_BY_MARKET),
        "timestamp": pc.cast(trades["trade_time_us"], pa.timestamp("us", tz="UTC")),
        "price": trades["price"],
        "quantity": trades["quantity"],
        "currency": pc.fill_null(quote, UNKNOWN_QUOTE),
        "side": pc.if_else(trades["is_buyer_maker"], "SELL", "BUY"),
        "trade_conditions": _conditions(is_aggregate),
        "source_sequence": source_id,
        "ingestion_timestamp": pa.array(ingestion_us, pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "platform_sequence": pa.nulls(rows, pa.int64()),
        "vendor_data": _vendor_data(trades, base, quote),
    }
    return pa.table(columns, schema=schema.arrow_schema())


def message_ids(
    exchange: pa.Array, symbol: pa.Array, kind: pa.Array, source_id: pa.Array
) -> pa.Array:
    """Deterministic UUIDv8 strings, one per row (layout in the module docstring)."""
    keys = pc.binary_join_element_wise(exchange, symbol, kind, "|")
    encoded = pc.dictionary_encode(keys)
    prefixes = np.array(
        [_namespace_prefix(key) for key in encoded.dictionary.to_pylist()], dtype=">u8"
    ).reshape(-1)
    high = prefixes[np.asarray(encoded.indices)] if len(keys) else np.zeros(0, ">u8")
    low = np.asarray(source_id, dtype=np.uint64) | np.uint64(0x8000000000000000)
    raw = np.empty((len(high), 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = high, low
    return _uuid_strings(raw.view(np.uint8).reshape(-1, 16))


def _namespace_prefix(key: str) -> int:
    """64 high bits of the UUID: 60 hash bits with the version nibble 8 in bits 48-51."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return (digest & ~(0xF << 12)) | (0x8 << 12)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_TEXT_LENGTH = 36
# Positions of the 32 hex digits inside "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
_HEX_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def _uuid_strings(raw: np.ndarray) -> pa.Array:
    """Format n x 16 bytes as n canonical UUID strings in one vectorized pass."""
    count = raw.shape[0]
    text = np.full((count, _UUID_TEXT_LENGTH), ord("-"), dtype=np.uint8)
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = raw >> 4, raw & 0x0F
    text[:, _HEX_POSITIONS] = _HEX[nibbles]
    offsets = np.arange(0, (count + 1) * _UUID_TEXT_LENGTH, _UUID_TEXT_LENGTH, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def _lookup(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    encoded = pc.dictionary_encode(values)
    names = pa.array([mapping[value] for value in encoded.dictionary.to_pylist()], pa.string())
    return names.take(encoded.indices)


def _split_symbols(symbol: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Base and quote asset per row; null for a symbol whose quote asset is unknown."""
    encoded = pc.dictionary_encode(symbol)
    bases: list[str | None] = []
    quotes: list[str | None] = []
    for name in encoded.dictionary.to_pylist():
        try:
            parts = split_symbol(name)
            bases.append(parts.base)
            quotes.append(parts.quote)
        except UnknownQuoteAssetError:
            bases.append(None)
            quotes.append(None)
    return (
        pa.array(bases, pa.string()).take(encoded.indices),
        pa.array(quotes, pa.string()).take(encoded.indices),
    )


def _conditions(is_aggregate: pa.Array) -> pa.Array:
    flags = np.asarray(is_aggregate, dtype=bool)
    offsets = np.concatenate([[0], np.cumsum(flags)]).astype(np.int32)
    values = pa.repeat(AGGREGATED_CONDITION, int(flags.sum()))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _vendor_data(trades: pa.Table, base: pa.Array, quote: pa.Array) -> pa.Array:
    """map<string,string> per row from fixed candidate keys, skipping absent values."""
    candidates = {
        "event_time": pc.cast(trades["event_time"], pa.string()),
        "is_buyer_maker": _bool_text(trades["is_buyer_maker"]),
        "is_best_match": _bool_text(trades["is_best_match"]),
        "base_asset": base,
        "quote_asset": quote,
        "stream": trades["stream"],
        "first_trade_id": pc.cast(trades["first_trade_id"], pa.string()),
        "last_trade_id": pc.cast(trades["last_trade_id"], pa.string()),
        "execution_type": trades["execution_type"],
        "unmapped": trades["unmapped"],
    }
    rows, width = trades.num_rows, len(VENDOR_KEYS)
    values = pa.concat_arrays(
        [pa.chunked_array(candidates[key]).combine_chunks() for key in VENDOR_KEYS]
    )
    # Row-major order: entry (row, k) sits at k * rows + row in `values`.
    order = (np.arange(width)[None, :] * rows + np.arange(rows)[:, None]).reshape(-1)
    present = np.asarray(pc.is_valid(values))[order]
    kept = order[present]
    counts = present.reshape(rows, width).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    keys = pa.array(np.tile(np.array(VENDOR_KEYS, dtype=object), rows)[present], pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values.take(pa.array(kept)))


def _bool_text(column: pa.ChunkedArray) -> pa.Array:
    return pc.if_else(column, "true", "false")
