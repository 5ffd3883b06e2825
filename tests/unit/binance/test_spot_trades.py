"""The columnar spot trade reader: it takes exactly the frames the strict parser reads the same.

Each case is a frame built from Binance's exact wire form with one field changed. Frames at the
edges of what the reader handles must be read by it, with the strict parser's values; anything
past an edge must be left to the strict parser (which then accepts or rejects it on its own).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from k2.binance.frames import TRADE_COLUMNS, parse_frames
from k2.binance.spot_trades import read_spot_trades
from k2.binance.strict import exact_spot_trade
from tests.support.frames import strict_parse

pytestmark = pytest.mark.unit

FIELDS = {
    "E": b"1723161255343",
    "s": b'"BTCUSDT"',
    "t": b"3735683259",
    "p": b'"61837.63000000"',
    "q": b'"0.02000000"',
    "T": b"1723161255342",
    "m": b"true",
    "M": b"true",
}


def spot_frame(stream: bytes | None = b"btcusdt@trade", **changed: bytes) -> bytes:
    values = FIELDS | changed
    payload = b'{"e":"trade",' + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in values.items())
    payload += b"}"
    if stream is None:
        return payload
    return b'{"stream":"' + stream + b'","data":' + payload + b"}"


def fast_reader_takes(frames: list[bytes]) -> list[int]:
    read = read_spot_trades(pa.array(frames, pa.binary()))
    return sorted(int(index) for part in read for index in part.frame_index)


def strict_table(frames: list[bytes]) -> pa.Table:
    return strict_parse(frames).table().cast(TRADE_COLUMNS)


EDGES = {
    "raw payload": spot_frame(None),
    "two-letter symbol": spot_frame(b"xy@trade", s=b'"XY"'),
    "sixteen-character symbol": spot_frame(b"abcdefghij123456@trade", s=b'"ABCDEFGHIJ123456"'),
    "digits and underscore in symbol": spot_frame(b"1000pepe_usdt@trade", s=b'"1000PEPE_USDT"'),
    "one-digit id": spot_frame(t=b"0"),
    "sixteen-digit microsecond times": spot_frame(E=b"1723161255343123", T=b"1723161255342999"),
    "ten integer digits in a price": spot_frame(p=b'"9999999999.99999999"'),
    "smallest quantity": spot_frame(q=b'"0.00000001"'),
    "false flags": spot_frame(m=b"false", M=b"false"),
    "raw payload with false flags": spot_frame(None, m=b"false", M=b"false"),
}

NEAR_MISSES = {
    "seventeen-character symbol": spot_frame(b"abcdefghij1234567@trade", s=b'"ABCDEFGHIJ1234567"'),
    "lower-case symbol": spot_frame(s=b'"btcusdt"'),
    "stream of another symbol": spot_frame(b"ethusdt@trade"),
    "upper-case stream": spot_frame(b"BTCUSDT@trade"),
    "DEL where the stream's underscore is": spot_frame(b"pepe\x7fusdt@trade", s=b'"PEPE_USDT"'),
    "leading zero in an id": spot_frame(t=b"03735683259"),
    "seventeen-digit time": spot_frame(T=b"17231612553420000"),
    "zero event time": spot_frame(E=b"0"),
    "one-digit times (before Binance opened)": spot_frame(E=b"1", T=b"9"),
    "trade time in 2286": spot_frame(E=b"1723161255343123", T=b"9999999999999999"),
    "event a year after its trade": spot_frame(E=b"1754697255343"),
    "negative id": spot_frame(t=b"-1"),
    "eleven integer digits in a price": spot_frame(p=b'"99999999999.00000000"'),
    "seven decimals": spot_frame(p=b'"61837.6300000"'),
    "zero price": spot_frame(p=b'"0.00000000"'),
    "price as a number": spot_frame(p=b"61837.63000000"),
    "exponent in a quantity": spot_frame(q=b'"2.0000000e-2"'),
    "flag as text": spot_frame(m=b'"true"'),
    "flag misspelt": spot_frame(M=b"True"),
    "space after a colon": spot_frame().replace(b'"t":', b'"t": '),
    "escaped symbol": spot_frame(s=b'"BTC\\u0055SDT"'),
    "fields reordered": spot_frame().replace(b'"m":true,"M":true', b'"M":true,"m":true'),
    "trailing byte": spot_frame() + b" ",
}


@pytest.mark.parametrize("frame", EDGES.values(), ids=EDGES.keys())
def test_reads_frames_at_the_edges_of_the_fast_form_as_the_strict_parser_does(frame: bytes):
    assert fast_reader_takes([frame]) == [0]
    assert parse_frames([frame]).trades == strict_table([frame])
    assert strict_table([frame]).num_rows == 1


@pytest.mark.parametrize("frame", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_leaves_every_other_frame_to_the_strict_parser(frame: bytes):
    assert fast_reader_takes([frame]) == []
    parsed = parse_frames([frame])
    assert parsed.frame_count == 1
    assert parsed.trades == strict_table([frame])


def test_a_batch_of_mixed_frames_keeps_each_frame_in_its_place():
    frames = [*EDGES.values(), *NEAR_MISSES.values()] * 3
    taken = fast_reader_takes(frames)
    assert taken == [i for i, frame in enumerate(frames) if frame in EDGES.values()]
    assert parse_frames(frames).trades == strict_table(frames)


@pytest.mark.parametrize("frame", [*EDGES.values(), *NEAR_MISSES.values()],
                         ids=[*EDGES.keys(), *NEAR_MISSES.keys()])  # fmt: skip
def test_the_connectors_trade_lane_agrees_with_the_strict_parser(frame: bytes):
    """k2.binance.strict.exact_spot_trade (how the connector tells trades from the rest)
    accepts every edge of the exact form, and never a frame the strict parser does not read
    as the same trade."""
    exact = exact_spot_trade(frame)
    trades = strict_table([frame]).to_pylist()
    if frame in EDGES.values():
        assert exact == (trades[0]["symbol"], trades[0]["source_id"])
    elif exact is not None:
        assert [(row["symbol"], row["source_id"]) for row in trades] == [exact]
