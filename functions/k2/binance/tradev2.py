"""Parsed Binance trade columns -> a TradeV2 Arrow table, built column-wise.

message_id is a UUID version 8 (RFC 9562, vendor-defined layout) that is a pure function of
(exchange, symbol, kind, source id): 60 bits of SHA-256 over "exchange|symbol|kind", then the
62-bit exchange id. Unique per trade, identical on every re-delivery, and computed for a whole
batch with numpy (a uuid5 per row would cost more than the rest of normalization together).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.binance.frames import TRADE_COLUMNS
from k2.binance.symbols import UnknownQuoteAssetError, split_symbol
from k2.domain import schema
from k2.domain.instrument import EXCHANGE_BY_MARKET

ASSET_CLASS_BY_MARKET = {"spot": "crypto", "usdm": "futures", "coinm": "futures"}
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
    source_id = trades["source_id"].combine_chunks()
    identity = _Identities(trades)
    exchange = identity.per_row(EXCHANGE_BY_MARKET[market] for market, _, _ in identity.values)
    symbol_parts = [_symbol_parts(symbol) for _, _, symbol in identity.values]
    base = identity.per_row(base for base, _ in symbol_parts)
    quote = identity.per_row(quote for _, quote in symbol_parts)
    is_aggregate = pc.equal(trades["kind"], "aggTrade")
    columns = {
        "message_id": _message_ids(identity.codes, identity.message_id_keys(), source_id),
        "trade_id": pc.binary_join_element_wise(
            identity.per_row(_trade_id_prefix(market, kind) for market, kind, _ in identity.values),
            pc.cast(source_id, pa.string()),
            "",
        ),
        "symbol": trades["symbol"],
        "exchange": exchange,
        "asset_class": identity.per_row(
            ASSET_CLASS_BY_MARKET[market] for market, _, _ in identity.values
        ),
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
    codes, values = _combination_codes(exchange, symbol, kind)
    return _message_ids(codes, ["|".join(key) for key in values], source_id)


def _message_ids(key_codes: np.ndarray, keys: list[str], source_id: pa.Array) -> pa.Array:
    """UUIDv8 text for rows whose "exchange|symbol|kind" is keys[key_codes[row]].

    The high half depends only on the key, so its text is formatted once per distinct key;
    only the low half (the exchange id) is formatted per row.
    """
    high_text = np.array(
        [list(_uuid_high_text(_namespace_prefix(key))) for key in keys], dtype=np.uint8
    ).reshape(len(keys), _HIGH_TEXT_LENGTH)
    low = np.asarray(source_id, dtype=np.uint64) | np.uint64(0x8000000000000000)
    low_hex = _HEX_PAIRS[low.astype(">u8").view(np.uint8).reshape(-1, 8)].view(np.uint8)
    text = np.empty((len(low), _UUID_TEXT_LENGTH), dtype=np.uint8)
    text[:, :_HIGH_TEXT_LENGTH] = high_text[key_codes]
    text[:, 19:23], text[:, 23], text[:, 24:] = low_hex[:, :4], ord("-"), low_hex[:, 4:]
    return _fixed_width_strings(text)


def _combination_codes(
    *columns: pa.Array | pa.ChunkedArray,
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per row, an index into every combination of the columns' distinct values.

    Dictionary-encodes each column on its own (each has few distinct values) instead of
    joining and hashing a million composite strings.
    """
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    combinations: list[tuple[str, ...]] = [()]
    for column in columns:
        whole = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        encoded = pc.dictionary_encode(whole)
        names = encoded.dictionary.to_pylist()
        codes = codes * len(names) + np.asarray(encoded.indices, dtype=np.int64)
        combinations = [(*combination, name) for combination in combinations for name in names]
    return codes, combinations


class _Identities:
    """What a row's (market, kind, symbol) decides, worked out once per distinct combination."""

    def __init__(self, trades: pa.Table) -> None:
        self.codes, combinations = _combination_codes(
            trades["market"], trades["kind"], trades["symbol"]
        )
        self.values = [(market, kind, symbol) for market, kind, symbol in combinations]
        self._take = pa.array(self.codes)

    def per_row(self, per_combination: Iterable[str | None]) -> pa.Array:
        return pa.array(list(per_combination), pa.string()).take(self._take)

    def message_id_keys(self) -> list[str]:
        return [
            f"{EXCHANGE_BY_MARKET[market]}|{symbol}|{kind}" for market, kind, symbol in self.values
        ]


def _trade_id_prefix(market: str, kind: str) -> str:
    aggregate = "-AGG-" if kind == "aggTrade" else "-"
    return EXCHANGE_BY_MARKET[market] + aggregate


def _namespace_prefix(key: str) -> int:
    """64 high bits of the UUID: 60 hash bits with the version nibble 8 in bits 48-51."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return (digest & ~(0xF << 12)) | (0x8 << 12)


_UUID_TEXT_LENGTH = 36  # "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_HIGH_TEXT_LENGTH = 19  # the first three groups and their dashes: the high 64 bits
# Two lower-case hex digits per byte value, laid out so that a uint16 lookup yields text bytes.
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % value for value in range(256)), dtype=np.uint16)


def _uuid_high_text(prefix: int) -> bytes:
    digits = f"{prefix:016x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:]}-".encode()


def _fixed_width_strings(text: np.ndarray) -> pa.Array:
    """An Arrow string array whose n values are the n rows of a 2-D uint8 array."""
    count, width = text.shape
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))


def _symbol_parts(symbol: str) -> tuple[str | None, str | None]:
    """Base and quote asset; both None for a symbol whose quote asset is unknown."""
    try:
        parts = split_symbol(symbol)
    except UnknownQuoteAssetError:
        return None, None
    return parts.base, parts.quote


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
        "first_trade_id": _integer_text(trades["first_trade_id"]),
        "last_trade_id": _integer_text(trades["last_trade_id"]),
        "execution_type": trades["execution_type"],
        "unmapped": trades["unmapped"],
    }
    columns = [pa.chunked_array(candidates[key]).combine_chunks() for key in VENDOR_KEYS]
    rows = trades.num_rows
    if all(column.null_count in (0, rows) for column in columns):
        offsets, keys, value_index = _same_keys_in_every_row(columns, rows)
    else:
        offsets, keys, value_index = _keys_per_row(columns, rows)
    values = pa.concat_arrays(columns).take(pa.array(value_index))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values)


_VENDOR_KEY_NAMES = pa.array(VENDOR_KEYS, pa.string())
Entries = tuple[np.ndarray, pa.Array, np.ndarray]  # map offsets, keys, value position per entry


def _keys_per_row(columns: list[pa.Array], rows: int) -> Entries:
    """Map entries for rows with differing key sets: the non-null candidates of each row.

    Values are addressed in `columns` concatenated: entry (row, k) sits at k * rows + row.
    """
    present = np.column_stack([np.asarray(column.is_valid(), dtype=bool) for column in columns])
    row, key = np.nonzero(present)  # row-major: each row's entries in VENDOR_KEYS order
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    return offsets, _VENDOR_KEY_NAMES.take(pa.array(key)), key * rows + row


def _same_keys_in_every_row(columns: list[pa.Array], rows: int) -> Entries:
    """The common case (a batch of one market and kind): entry positions by arithmetic."""
    kept = np.array([k for k, column in enumerate(columns) if column.null_count == 0], np.int64)
    offsets = np.arange(0, (rows + 1) * len(kept), len(kept), dtype=np.int32)
    names = [VENDOR_KEYS[k].encode() for k in kept]
    name_ends = np.cumsum([len(name) for name in names], dtype=np.int32)
    key_offsets = np.zeros(rows * len(kept) + 1, dtype=np.int32)
    key_offsets[1:] = (np.arange(rows, dtype=np.int32)[:, None] * name_ends[-1] + name_ends).ravel()
    keys = pa.StringArray.from_buffers(
        rows * len(kept), pa.py_buffer(key_offsets), pa.py_buffer(b"".join(names) * rows)
    )
    value_index = (kept[None, :] * rows + np.arange(rows)[:, None]).reshape(-1)
    return offsets, keys, value_index


def _integer_text(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Decimal text of an integer column; an all-null one (spot trades' aggTrade ids) as is."""
    if column.null_count == len(column):
        return pa.nulls(len(column), pa.string())
    return pc.cast(column, pa.string())


def _bool_text(column: pa.ChunkedArray) -> pa.Array:
    return pc.if_else(column, "true", "false")
