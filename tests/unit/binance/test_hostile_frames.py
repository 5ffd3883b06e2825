"""Property-based: thousands of generated and mutated frames, nothing raises, nothing is lost.

Each test calls a Hypothesis-driven check and then asserts how many frames it really saw, so
the ">= 10,000 frames" promise is measured, not assumed.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k2.binance.frames import TRADE_COLUMNS, parse_frames
from k2.binance.normalize import KinesisBatch
from k2.binance.strict import classify, exact_spot_trade
from k2.domain import kpl
from k2.domain.records import RecordOrigin
from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler
from tests.support.events import kinesis_event
from tests.support.frames import strict_parse

pytestmark = pytest.mark.unit
PROFILE = settings(
    derandomize=True,  # reproducible in CI; the mutations below give the breadth
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip

symbols = st.sampled_from(["BTCUSDT", "ETHUSDT", "1000PEPEUSDT", "BTCTRY", "XYZ", "btcusdt"])
decimals = st.one_of(
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("9999999999.99999999"),
                places=8).map(lambda d: f"{d:.8f}"),
    st.sampled_from(["0", "-1.5", "1e5", "NaN", "", "12345678901.0", "1.123456789", " 1.0"]),
)  # fmt: skip
integers = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([-1, 0, 2**62, 2**64]))


@st.composite
def valid_looking_frames(draw) -> bytes:
    event = draw(st.sampled_from(["trade", "trade", "aggTrade", "bookTicker", "depthUpdate", "x"]))
    symbol = draw(symbols)
    payload: dict = {"e": event, "E": draw(integers), "s": symbol}
    if event == "aggTrade":
        payload |= {"a": draw(integers), "f": draw(integers), "l": draw(integers)}
    else:
        payload["t"] = draw(integers)
    payload |= {"p": draw(decimals), "q": draw(decimals), "T": draw(integers),
                "m": draw(st.booleans())}  # fmt: skip
    if draw(st.booleans()):
        payload["M"] = draw(st.booleans())
    else:
        payload["X"] = draw(st.sampled_from(["MARKET", "ADL", "NA"]))
    if event == "bookTicker":
        payload = {"u": 1, "s": symbol, "b": "1.0", "B": "1.0", "a": "1.0", "A": "1.0"}
    body = json.dumps(payload, separators=(",", ":"))
    if draw(st.booleans()):
        body = f'{{"stream":"{symbol.lower()}@{event}","data":{body}}}'
    return body.encode()


@st.composite
def mutated(draw, frame: bytes) -> bytes:
    for _ in range(draw(st.integers(0, 3))):
        if not frame:
            break
        op = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "double", "none"]))
        at = draw(st.integers(0, len(frame) - 1))
        if op == "truncate":
            frame = frame[:at]
        elif op == "delete":
            frame = frame[:at] + frame[at + draw(st.integers(1, 8)) :]
        elif op == "insert":
            frame = frame[:at] + draw(st.binary(min_size=1, max_size=6)) + frame[at:]
        elif op == "replace":
            frame = (
                frame[:at]
                + draw(st.sampled_from([b'"', b"}", b"-", b"9", b"\xff", b" "]))
                + frame[at + 1 :]
            )
        elif op == "double":
            frame = frame + frame
    return frame


any_frame = st.one_of(
    valid_looking_frames(),
    valid_looking_frames().flatmap(mutated),
    valid_looking_frames().flatmap(mutated),
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3),
                 inner, max_size=3)).map(lambda v: json.dumps(v).encode()),
)  # fmt: skip
# The floors make the frame counts asserted below hold whatever examples Hypothesis draws:
# 360 batches x 28 frames and 120 x 3 records x 28 frames are both over 10,000.
batches = st.lists(any_frame, min_size=28, max_size=40)


def test_parser_accounts_for_every_hostile_frame_and_fast_paths_agree_with_strict():
    seen: list[int] = []

    @settings(PROFILE, max_examples=360)
    @given(batches)
    def check(frames: list[bytes]) -> None:
        parsed = parse_frames(frames)
        places = (
            parsed.trades["frame_index"].to_pylist()
            + [r.frame_index for r in parsed.rejections]
            + [n.frame_index for n in parsed.non_trades]
        )
        assert sorted(places) == list(range(len(frames)))  # each frame exactly once
        reference = strict_parse(frames)
        assert parsed.trades == reference.table().cast(TRADE_COLUMNS)
        assert parsed.rejections == reference.rejections
        for frame in frames:  # the connector's lane never calls a frame a trade wrongly
            if (exact := exact_spot_trade(frame)) is not None:
                row = classify(frame)
                assert isinstance(row, dict)
                assert (row["symbol"], row["source_id"], row["kind"]) == (*exact, "trade")
        seen.append(len(frames))

    check()
    assert sum(seen) >= 10_000, sum(seen)


def frames_in(payload: bytes) -> int:
    """How many accounting units a record is: its frames, or 1 if it is dead-lettered whole."""
    try:
        return len(kpl.split_payload(payload)) or 1
    except kpl.AggregationError:
        return 1


def test_normalize_accounts_for_every_frame_of_hostile_kinesis_records():
    seen: list[int] = []

    @settings(PROFILE, max_examples=120)
    @given(st.lists(st.tuples(batches, st.booleans()), min_size=3, max_size=4))
    def check(records: list[tuple[list[bytes], bool]]) -> None:
        batch = KinesisBatch()
        sent = 0
        for index, (frames, aggregate) in enumerate(records):
            payload = kpl.aggregate(frames, "K") if aggregate else b"\n".join(frames)
            sent += frames_in(payload)
            batch.add_record(RecordOrigin("shardId-0", str(index), 1_723_161_300_000_000), payload)
        result = batch.normalize()
        accounted = (result.trades.num_rows + result.duplicates + len(result.dead_letters)
                     + sum(result.non_trades.values()))  # fmt: skip
        assert accounted == result.frames == sent
        seen.append(sent)

    check()
    assert sum(seen) >= 10_000, sum(seen)


def test_handler_never_fails_a_batch_for_bad_input(in_process_lake):
    seen: list[int] = []

    @settings(PROFILE, max_examples=60)
    @given(st.lists(batches, min_size=1, max_size=3))
    def check(records: list[list[bytes]]) -> None:
        payloads = [kpl.aggregate(frames, "K") for frames in records]
        event = kinesis_event(payloads, first_sequence=10**20 + 100 * len(seen))
        assert lambda_handler(event, LocalLambdaContext("normalize")) == {"batchItemFailures": []}
        seen.append(sum(len(frames) for frames in records))

    check()
    assert sum(seen) >= 1_000
