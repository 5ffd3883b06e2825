"""Kinesis payloads: KPL aggregated records (interoperable with AWS's own library) or lines."""

from __future__ import annotations

import base64
import itertools

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records

from k2.domain import kpl
from tests.support.events import kinesis_event

pytestmark = pytest.mark.unit

FRAMES = [b'{"e":"trade","t":1}', b"x" * 300, "é ünïcode".encode()]


def test_round_trip_and_exact_size():
    payload = kpl.aggregate(FRAMES, "BTCUSDT")
    assert kpl.is_aggregated(payload)
    assert kpl.deaggregate(payload) == FRAMES
    assert len(payload) == kpl.aggregated_size([len(f) for f in FRAMES], "BTCUSDT")


def test_aws_deaggregator_reads_our_records():
    event = kinesis_event([kpl.aggregate(FRAMES, "BTCUSDT")])
    records = deaggregate_records(event["Records"])
    assert [base64.b64decode(r["kinesis"]["data"]) for r in records] == FRAMES


def test_we_read_records_aggregated_by_aws_library():
    aggregator = RecordAggregator()
    for frame in FRAMES:
        aggregator.add_user_record("BTCUSDT", frame)
    _, _, payload = aggregator.clear_and_get().get_contents()
    assert kpl.deaggregate(payload) == FRAMES


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (kpl.KPL_MAGIC + b"\x1a\x05abc" + b"0" * 16, "MD5"),
        (kpl.KPL_MAGIC + b"\x00", "shorter"),
    ],
)
def test_corrupt_aggregates_raise(payload, message):
    with pytest.raises(kpl.AggregationError, match=message):
        kpl.deaggregate(payload)


def test_plain_payloads_are_newline_delimited_frames():
    assert kpl.split_payload(b"a\nb\n\nc\n") == [b"a", b"b", b"c"]
    assert kpl.split_payload(b'{"single":1}') == [b'{"single":1}']
    assert kpl.split_payload(b"\n \n") == []


def test_packed_runs_are_exactly_as_large_as_their_records_and_keep_order():
    entries = [(f"spot:S{i % 300:04d}USDT", b"f" * (50 + i % 700)) for i in range(3_000)]
    runs = list(kpl.pack_keyed(entries, max_bytes=64 * 1024))
    assert [entry for run in runs for entry in run] == entries
    for run in runs:
        payload = kpl.aggregate_keyed(run)
        assert len(payload) <= 64 * 1024
        assert kpl.deaggregate_keyed(payload) == run
    # a run is cut only when the next entry would not fit
    for run, following in itertools.pairwise(runs):
        assert len(kpl.aggregate_keyed([*run, following[0]])) > 64 * 1024
