"""Columnar reader for spot `trade` frames exactly as Binance serializes them.

Binance writes every spot trade with the same keys in the same order and no whitespace:

    {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",
     "t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}

(or the same payload without the combined-stream envelope). Split at its commas, such a frame
has a fixed number of fields, and each field a fixed form. Arrow splits the whole batch in one
call; numpy then checks and decodes every field of every frame at once, reading the bytes as
little-endian 8-byte words: literal parts are compared as words, and numbers are decoded eight
digits at a time with the SWAR method (simdjson's parse_eight_digits). No Python object is made
per frame or per field.

Every byte of a frame is checked, so a frame is accepted only when it is exactly that form with
valid values; then the strict per-frame parser (k2.binance.strict) would read the same values.
Anything else - other markets, events, key orders, spacing, escapes, numbers in another
notation, out-of-range values - is left to the strict parser, which also says what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from k2.binance.strict import (
    EARLIEST_TRADE_US,
    MAX_EVENT_AFTER_TRADE_US,
    MAX_TRADE_AFTER_EVENT_US,
    MICROS_THRESHOLD,
    PRICE_INTEGER_DIGITS,
    PRICE_SCALE,
)

MAX_DIGITS = 16  # integers read here: epoch times (< 10**16, as the strict parser requires), ids
if PRICE_SCALE != 8:
    raise ImportError(f"the fast reader writes Binance's 8 decimals as they are, not {PRICE_SCALE}")
DECIMAL_TYPE = pa.decimal128(PRICE_INTEGER_DIGITS + PRICE_SCALE, PRICE_SCALE)

_SYMBOL = re.compile(rb"[A-Z0-9_]{2,32}")  # the strict parser's symbol rule
_MAX_FAST_SYMBOL = 16  # longer symbols (none are listed today) take the strict path
_ASCII_ZEROS = 0x3030303030303030
_PAD = 32  # zero bytes around the data, more than any read reaches past a field
_POWERS_OF_TEN = np.array([10**k for k in range(MAX_DIGITS + 1)], dtype=np.int64)
_HIGH_NIBBLES = 0xF0F0F0F0F0F0F0F0


@dataclass(frozen=True)
class _Layout:
    """How a frame splits at its commas: head fields, then the eight payload fields."""

    fields: int
    envelope: bool
    close: bytes


_ENVELOPE = _Layout(fields=10, envelope=True, close=b"}}")
_RAW = _Layout(fields=9, envelope=False, close=b"}")


@dataclass(frozen=True)
class SpotTrades:
    """Decoded columns of the accepted frames; `frame_index` says which frames they were."""

    frame_index: np.ndarray
    symbol: pa.Array
    stream: pa.Array  # null for frames without the combined-stream envelope
    event_time: np.ndarray
    source_id: np.ndarray
    price: pa.Array
    quantity: pa.Array
    trade_time_us: np.ndarray
    is_buyer_maker: np.ndarray
    is_best_match: np.ndarray


def read_spot_trades(frames: pa.Array, spot: np.ndarray | None = None) -> list[SpotTrades]:
    """Columns of every frame in `frames` (binary) that is a spot trade in Binance's exact form
    (among those `spot` marks as received on the spot market, when given)."""
    text = _Text(frames)
    read = []
    for layout in (_ENVELOPE, _RAW):
        candidates = text.commas_per_frame == layout.fields - 1
        frame_index = np.flatnonzero(candidates if spot is None else candidates & spot)
        if len(frame_index):
            read.append(_read_layout(layout, frame_index, text))
    return read


def _read_layout(layout: _Layout, frame_index: np.ndarray, text: _Text) -> SpotTrades:
    head = 2 if layout.envelope else 1
    starts, ends = text.field_bounds(frame_index, layout.fields)

    def field(k: int) -> tuple[np.ndarray, np.ndarray]:
        return starts[k], ends[k]

    symbols = text.symbols(*field(head + 1))
    ok = symbols.code >= 0
    if layout.envelope:
        ok &= text.names_trade_stream(*field(0), symbols)
        ok &= text.is_literal(*field(1), b'"data":{"e":"trade"')
    else:
        ok &= text.is_literal(*field(0), b'{"e":"trade"')
    event_time, good = text.integer(*field(head), b'"E":')
    ok &= good & (event_time > 0)
    source_id, good = text.integer(*field(head + 2), b'"t":')
    ok &= good
    price, good = text.price(*field(head + 3), b'"p":"')
    ok &= good
    quantity, good = text.price(*field(head + 4), b'"q":"')
    ok &= good
    trade_time, good = text.integer(*field(head + 5), b'"T":')
    ok &= good & (trade_time > 0)
    is_buyer_maker, good = text.boolean(*field(head + 6), b'"m":', b"")
    ok &= good
    is_best_match, good = text.boolean(*field(head + 7), b'"M":', layout.close)
    ok &= good
    ok &= _plausible_times(_to_micros(event_time), _to_micros(trade_time))

    code = pa.array(symbols.code[ok])
    return SpotTrades(
        frame_index=frame_index[ok],
        symbol=pa.array(symbols.names, pa.string()).take(code),
        stream=pa.array([f"{name.lower()}@trade" for name in symbols.names]).take(code)
        if layout.envelope
        else pa.nulls(len(code), pa.string()),
        event_time=event_time[ok],
        source_id=source_id[ok],
        price=_decimals(price[ok]),
        quantity=_decimals(quantity[ok]),
        trade_time_us=_to_micros(trade_time[ok]),
        is_buyer_maker=is_buyer_maker[ok],
        is_best_match=is_best_match[ok],
    )


@dataclass(frozen=True)
class _Symbols:
    """Per frame, an index into `names`, or -1 where the symbol field is not valid."""

    code: np.ndarray
    names: list[str]
    lengths: np.ndarray
    lower_low: np.ndarray  # per name: its lower-case text as two little-endian words,
    lower_high: np.ndarray  # zero-padded (a stream name holds the symbol in lower case)

    @classmethod
    def of(cls, low: np.ndarray, high: np.ndarray, length: np.ndarray, ok: np.ndarray) -> _Symbols:
        """Symbols from each frame's text as two zero-padded words and its length.

        Frames are grouped by a hash of their text (a sort of the batch's few distinct
        values); each group's text is checked once against the strict parser's rule, and
        every frame's text is then compared with its group's name, so that a hash collision
        sends a frame to the strict parser instead of merging two symbols.
        """
        rows = np.flatnonzero(ok)
        key = low * _HASH_LOW + high * _HASH_HIGH + length.astype(np.uint64)
        ordered = np.sort(key[rows])
        distinct = np.concatenate([ordered[:1], ordered[1:][ordered[1:] != ordered[:-1]]])
        group = np.searchsorted(distinct, key[rows])
        name_of_group = np.full(len(distinct), -1, dtype=np.int64)
        names: list[str] = []
        words: list[tuple[int, int]] = []
        for number in range(len(distinct)):
            row = rows[np.argmax(group == number)]
            text = int(low[row]).to_bytes(8, "little") + int(high[row]).to_bytes(8, "little")
            if _SYMBOL.fullmatch(text[: length[row]]):
                name_of_group[number] = len(names)
                names.append(text[: length[row]].decode())
                words.append((int(low[row]), int(high[row])))
        code = np.full(len(low), -1, dtype=np.int64)
        if not names:
            empty = np.zeros(0, dtype=np.uint64)
            return cls(code, [], empty.astype(np.int64), empty, empty)
        name_words = np.array(words, dtype=np.uint64).reshape(-1, 2)
        lengths = np.array([len(name) for name in names], dtype=np.int64)
        code[rows] = name_of_group[group]
        named = np.maximum(code, 0)
        same = (low == name_words[:, 0][named]) & (high == name_words[:, 1][named])
        code[~(same & (length == lengths[named]))] = -1
        lower = _lower_words(name_words)
        return cls(code, names, lengths, lower[:, 0].copy(), lower[:, 1].copy())


class _Text:
    """The frames' bytes, their commas, and vectorized reads of little-endian 8-byte words.

    The bytes are copied once into a buffer with _PAD zero bytes at each end; positions below
    are in that buffer. Every read (at most 32 bytes before a field's end or after its start)
    then stays inside without a bounds test, and zero bytes never pass as a digit or as part
    of a literal.

    Reads fetch a window of up to four consecutive words per frame in one gather: numpy
    gathers an unaligned 32-byte item as fast as an 8-byte one, so a field's words cost one
    gather instead of one each. Words at other offsets are shifted out of the window.
    """

    def __init__(self, frames: pa.Array) -> None:
        data = frames.buffers()[2]
        size = 0 if data is None else data.size
        self._bytes = np.empty(size + 2 * _PAD, dtype=np.uint8)
        self._bytes[:_PAD] = self._bytes[_PAD + size :] = 0
        if size:
            self._bytes[_PAD : _PAD + size] = np.frombuffer(data, dtype=np.uint8)
        offsets = np.frombuffer(frames.buffers()[1], dtype=np.int32)
        in_view = offsets[frames.offset : frames.offset + len(frames) + 1]
        self._frame_bounds = in_view.astype(np.int64) + _PAD
        self._commas = np.flatnonzero(self._bytes == ord(","))
        self._first_comma = np.searchsorted(self._commas, self._frame_bounds)
        self.commas_per_frame = np.diff(self._first_comma)

    def field_bounds(self, frame_index: np.ndarray, fields: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of each comma-separated field of the frames: fields x frames arrays
        (one contiguous row per field, which the reads below index fastest)."""
        commas = self._commas[np.arange(fields - 1)[:, None] + self._first_comma[frame_index]]
        starts = np.vstack([self._frame_bounds[frame_index], commas + 1])
        ends = np.vstack([commas, self._frame_bounds[frame_index + 1]])
        return starts, ends

    def words(self, at: np.ndarray, count: int) -> np.ndarray:
        """count x frames: row k holds the eight bytes from at + 8k of each frame."""
        items = np.ndarray(
            (len(self._bytes) - 8 * count + 1,),
            dtype=f"V{8 * count}",
            buffer=self._bytes,
            strides=(1,),
        )
        return items[at].view("<u8").reshape(-1, count).T

    def byte(self, at: np.ndarray) -> np.ndarray:
        return self._bytes[at]

    def has_bytes(self, at: np.ndarray, expected: bytes) -> np.ndarray:
        """Whether the bytes from `at` are `expected` (at most 32 bytes)."""
        return _starts_with(self.words(at, -(-len(expected) // 8)), expected)

    def symbols(self, start: np.ndarray, end: np.ndarray) -> _Symbols:
        """The `"s":"BTCUSDT"` fields, decided once per distinct symbol: a batch has few."""
        window = self.words(start, 3)
        first = len(b'"s":"')
        length = end - 1 - start - first
        ok = (length >= 2) & (length <= _MAX_FAST_SYMBOL) & _starts_with(window, b'"s":"')
        ok &= self.byte(end - 1) == ord('"')
        low = _word_at(window, first) & _KEEP_FIRST[_bounded(length, 8)]
        high = _word_at(window, first + 8) & _KEEP_FIRST[_bounded(length - 8, 8)]
        return _Symbols.of(low, high, length, ok)

    def names_trade_stream(
        self, start: np.ndarray, end: np.ndarray, symbols: _Symbols
    ) -> np.ndarray:
        """Whether a `{"stream":"btcusdt@trade"` field names the trade stream of the frame's
        own symbol (lower-cased), as the strict parser requires."""
        if not symbols.names:
            return np.zeros(len(start), dtype=bool)
        window = self.words(start, 4)
        code = np.maximum(symbols.code, 0)
        first = len(b'{"stream":"')
        length = end - len(b'@trade"') - start - first
        ok = (symbols.code >= 0) & (length == symbols.lengths[code])
        ok &= _starts_with(window, b'{"stream":"') & self.has_bytes(end - 7, b'@trade"')
        clipped = _bounded(length, _MAX_FAST_SYMBOL)
        expected_low, expected_high = symbols.lower_low[code], symbols.lower_high[code]
        ok &= (_word_at(window, first) & _KEEP_FIRST[np.minimum(clipped, 8)]) == expected_low
        low_of_high = _KEEP_FIRST[_bounded(clipped - 8, 8)]
        ok &= (_word_at(window, first + 8) & low_of_high) == expected_high
        return ok

    def is_literal(self, start: np.ndarray, end: np.ndarray, literal: bytes) -> np.ndarray:
        return ((end - start) == len(literal)) & self.has_bytes(start, literal)

    def integer(
        self, start: np.ndarray, end: np.ndarray, key: bytes
    ) -> tuple[np.ndarray, np.ndarray]:
        """A `"k":123` field: JSON integer digits (no sign, no leading zero) after the key."""
        count = end - start - len(key)
        high, low = self.words(end - 16, 2)
        value, ok = _digits(low, high, count, MAX_DIGITS)
        leading_zero = (count > 1) & (value < _POWERS_OF_TEN[_bounded(count - 1, MAX_DIGITS)])
        return value, ok & ~leading_zero & self.has_bytes(start, key)

    def price(
        self, start: np.ndarray, end: np.ndarray, key: bytes
    ) -> tuple[np.ndarray, np.ndarray]:
        """A `"p":"61837.63000000"` field as an integer count of 1e-8; positive values only.

        The field's last 32 bytes hold every part: up to 10 integer digits, the dot at 22,
        the eight decimals at 23-30 and the closing quote at 31.
        """
        window = self.words(end - 32, 4)
        integer_digits = end - PRICE_SCALE - 2 - start - len(key)
        whole, ok = _digits(
            _word_at(window, 14), _word_at(window, 6), integer_digits, PRICE_INTEGER_DIGITS
        )
        fraction = _word_at(window, 23)
        ok &= _all_digits(fraction)
        value = whole * 10**PRICE_SCALE + _eight_digits(fraction).astype(np.int64)
        ok &= (value > 0) & (_byte_at(window, 22) == ord(".")) & (_byte_at(window, 31) == ord('"'))
        return value, ok & self.has_bytes(start, key)

    def boolean(
        self, start: np.ndarray, end: np.ndarray, key: bytes, close: bytes
    ) -> tuple[np.ndarray, np.ndarray]:
        """A `"m":true` or `"m":false` field, followed by the frame's closing braces if any."""
        window = self.words(start, 2)
        length = end - start
        answers = []
        for literal in (key + b"true" + close, key + b"false" + close):
            answers.append((length == len(literal)) & _starts_with(window, literal))
        is_true, is_false = answers
        return is_true, is_true | is_false


def _word_at(window: np.ndarray, offset: int) -> np.ndarray:
    """The eight bytes at `offset` of each frame's window (rows of words, as _Text.words)."""
    index, shift = divmod(offset, 8)
    if not shift:
        return window[index]
    return (window[index] >> np.uint64(8 * shift)) | (
        window[index + 1] << np.uint64(64 - 8 * shift)
    )


def _byte_at(window: np.ndarray, offset: int) -> np.ndarray:
    index, shift = divmod(offset, 8)
    return (window[index] >> np.uint64(8 * shift)) & np.uint64(0xFF)


def _starts_with(window: np.ndarray, expected: bytes) -> np.ndarray:
    """Whether each frame's window begins with `expected`, compared eight bytes at a time."""
    ok = np.ones(window.shape[1], dtype=bool)
    for index, position in enumerate(range(0, len(expected), 8)):
        part = expected[position : position + 8]
        value = np.uint64(int.from_bytes(part, "little"))
        word = window[index] if len(part) == 8 else window[index] & _KEEP_FIRST[len(part)]
        ok &= word == value
    return ok


def _digits(
    low: np.ndarray, high: np.ndarray, count: np.ndarray, most: int
) -> tuple[np.ndarray, np.ndarray]:
    """Value of the `count` (1 to `most`, 9 <= most <= 16) ASCII digits that end a 16-byte run
    whose words are `high` then `low`, and whether they are all digits."""
    ok = (count >= 1) & (count <= most)
    count = _bounded(count, most)
    in_low = np.minimum(count, 8)
    low = _keep_last_bytes(low, in_low)
    high = _keep_last_bytes(high, count - in_low)
    ok &= _all_digits(low) & _all_digits(high)
    value = _eight_digits(low) + _eight_digits(high) * np.uint64(10**8)
    return value.astype(np.int64), ok


# Per count k (0-8): mask keeping a word's first k bytes (the low ones).
_KEEP_FIRST = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
# Odd multipliers for a 64-bit hash of a symbol's two words; equality is checked after.
_HASH_LOW, _HASH_HIGH = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


def _lower_words(words: np.ndarray) -> np.ndarray:
    """ASCII upper-case letters in the words' bytes made lower-case; other bytes unchanged."""
    text = words.astype("<u8").view(np.uint8).copy()
    text[(text >= ord("A")) & (text <= ord("Z"))] += 32
    return text.view("<u8").reshape(words.shape)


# Per count k (0-8): mask keeping a word's last k bytes, and ASCII zeros for the other bytes.
_KEEP = np.array([~((1 << (8 * (8 - k))) - 1) & (2**64 - 1) for k in range(9)], dtype=np.uint64)
_ZERO_FILL = np.array([_ASCII_ZEROS & ~int(mask) for mask in _KEEP], dtype=np.uint64)


def _bounded(values: np.ndarray, most: int) -> np.ndarray:
    """values limited to 0..most (np.clip's Python wrapper costs more on batch-sized arrays)."""
    return np.minimum(np.maximum(values, 0), most)


def _keep_last_bytes(word: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The word with all but its last `count` bytes replaced by ASCII '0' (leading zeros)."""
    return (word & _KEEP[count]) | _ZERO_FILL[count]


def _all_digits(word: np.ndarray) -> np.ndarray:
    """Every byte in '0'-'9': high nibble 3, and still 3 after adding 6 (no carry can occur)."""
    return ((word & _HIGH_NIBBLES) == _ASCII_ZEROS) & (
        ((word + 0x0606060606060606) & _HIGH_NIBBLES) == _ASCII_ZEROS
    )


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """Eight ASCII digits (first digit in the lowest byte) -> their value, in three multiplies.

    The first mask keeps each byte's low nibble, which is already the digit's value.
    """
    for mask, multiplier, shift in _PAIRWISE_STEPS:
        word = ((word & mask) * multiplier) >> shift
    return word


# Each step joins neighbouring groups: digits into pairs, pairs into fours, fours into eight.
_PAIRWISE_STEPS = [
    (np.uint64(mask), np.uint64(multiplier), np.uint64(shift))
    for mask, multiplier, shift in (
        (0x0F0F0F0F0F0F0F0F, 10 * 256 + 1, 8),
        (0x00FF00FF00FF00FF, 100 * 65536 + 1, 16),
        (0x0000FFFF0000FFFF, 10000 * 2**32 + 1, 32),
    )
]


def _decimals(scaled: np.ndarray) -> pa.Array:
    """Decimal values from non-negative counts of 1e-8 (their high 64 bits are zero)."""
    words = np.zeros((len(scaled), 2), dtype="<i8")
    words[:, 0] = scaled
    return pa.Array.from_buffers(DECIMAL_TYPE, len(scaled), [None, pa.py_buffer(words)])


def _to_micros(epoch: np.ndarray) -> np.ndarray:
    return np.where(epoch < MICROS_THRESHOLD, epoch * 1000, epoch)


def _plausible_times(event_us: np.ndarray, trade_us: np.ndarray) -> np.ndarray:
    """k2.binance.strict.plausible_times, column-wise (a frame failing it is left to the strict
    parser, which rejects it with the reason)."""
    return (
        (trade_us >= EARLIEST_TRADE_US)
        & (trade_us - event_us <= MAX_TRADE_AFTER_EVENT_US)
        & (event_us - trade_us <= MAX_EVENT_AFTER_TRADE_US)
    )
