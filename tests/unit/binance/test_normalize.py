"""The normalize step over Kinesis records: the market comes from the partition key (the
subscription), trade times are checked against arrival, and a conflicting duplicate is never
silently dropped."""

from __future__ import annotations

import pytest

from k2.binance.normalize import KinesisBatch
from k2.domain import kpl
from k2.domain.records import NormalizedBatch, RecordOrigin
from k2.domain.rejects import RejectReason
from tests.support.frames import frame

pytestmark = pytest.mark.unit
ARRIVAL_US = 1_723_161_300_000_000  # a second after the samples' trade time


def normalize(*records: tuple[str, bytes]) -> NormalizedBatch:
    """Normalize records given as (Kinesis partition key, payload)."""
    batch = KinesisBatch()
    for index, (key, payload) in enumerate(records):
        batch.add_record(RecordOrigin("shardId-0", str(index), ARRIVAL_US, "", key), payload)
    return batch.normalize()


def test_the_partition_key_names_the_market_of_each_frame():
    futures = frame("usdm_trade")
    spot_with_x = frame("spot_trade", X="MARKET")
    result = normalize(("usdm:BTCUSDT", futures), ("spot:BTCUSDT", spot_with_x),
                       ("spot:BTCUSDT", futures))  # fmt: skip
    rows = result.trades.to_pylist()
    assert [(r["exchange"], r["trade_id"]) for r in rows] == [
        ("BINANCE_FUTURES", "BINANCE_FUTURES-5123456789"),
        ("BINANCE", "BINANCE-3735683259"),
    ]
    (letter,) = result.dead_letters  # a futures frame on a spot subscription: not relabelled
    assert (letter.reason, letter.detail) == (RejectReason.MISSING_FIELD, "missing field 'M'")


def test_each_frame_of_an_aggregated_record_keeps_its_own_key():
    record = kpl.aggregate_keyed([("spot:BTCUSDT", frame("spot_trade")),
                                  ("usdm:BTCUSDT", frame("usdm_trade"))])  # fmt: skip
    result = normalize(("anything", record))
    assert sorted(r["exchange"] for r in result.trades.to_pylist()) == [
        "BINANCE", "BINANCE_FUTURES"
    ]  # fmt: skip


def test_a_key_without_a_market_is_read_as_spot():
    result = normalize(("BTCUSDT", frame("spot_trade")))
    assert result.trades["exchange"].to_pylist() == ["BINANCE"]


def test_a_trade_timed_over_an_hour_after_it_reached_kinesis_is_dead_lettered():
    hours_ahead_ms = ARRIVAL_US // 1000 + 2 * 3_600_000
    result = normalize(("spot:BTCUSDT", frame("spot_trade", E=hours_ahead_ms, T=hours_ahead_ms)))
    assert result.trades.num_rows == 0
    (letter,) = result.dead_letters
    assert letter.reason is RejectReason.IMPLAUSIBLE_TIME


def test_a_repeat_lands_once_and_a_conflicting_version_is_dead_lettered_beside_it():
    original = frame("spot_trade", t=7)
    conflicting = frame("spot_trade", t=7, p="99999.00000000")
    result = normalize(*[("spot:BTCUSDT", raw) for raw in (original, original, conflicting)])
    (row,) = result.trades.to_pylist()
    assert str(row["price"]) == "61837.63000000"  # the first version lands
    assert result.duplicates == 1  # the identical repeat
    (letter,) = result.dead_letters
    assert letter.reason is RejectReason.CONFLICTING_DUPLICATE
    assert letter.raw == conflicting
    assert original.decode() in letter.detail  # both versions are in the dead letter
    assert result.trades.num_rows + result.duplicates + len(result.dead_letters) == result.frames
