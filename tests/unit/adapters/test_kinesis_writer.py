"""The Kinesis writer: aggregated records per symbol, only failed entries resent, and an
exact account of what was not stored when Kinesis goes away mid-put."""

from __future__ import annotations

import pytest

from k2.adapters.kinesis.writer import KinesisWriter, PartialPutError
from k2.domain import kpl

pytestmark = pytest.mark.unit


def frame(symbol: str, i: int) -> bytes:
    return f'{{"stream":"{symbol.lower()}@trade","data":{{"s":"{symbol}","t":{i}}}}}'.encode()


class ScriptedKinesis:
    """Each call follows the next script step: 'ok', 'fail-first' (first entry throttled) or
    'down' (raises). Stores what it accepts."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.stored: list[bytes] = []

    def put_records(self, StreamName, Records):
        step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            raise ConnectionError("endpoint unreachable")
        results = []
        for index, record in enumerate(Records):
            if step == "fail-first" and index == 0:
                results.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                self.stored += kpl.deaggregate(record["Data"])
                results.append({"SequenceNumber": "1", "ShardId": "shardId-0"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def test_one_aggregated_record_per_symbol_partitioned_by_symbol():
    kinesis = ScriptedKinesis()
    frames = [frame("BTCUSDT", 1), frame("ETHUSDT", 1), frame("BTCUSDT", 2)]
    KinesisWriter(kinesis, "s").put_frames(frames)
    assert sorted(kinesis.stored) == sorted(frames)


def test_throttled_entries_are_resent_alone():
    kinesis = ScriptedKinesis("fail-first")
    writer = KinesisWriter(kinesis, "s", max_backoff_s=0)
    frames = [frame("BTCUSDT", 1), frame("ETHUSDT", 1)]
    writer.put_frames(frames)
    assert sorted(kinesis.stored) == sorted(frames)  # once each
    assert writer.stats.retried_entries == 1


def test_an_outage_mid_put_reports_exactly_the_frames_not_stored():
    kinesis = ScriptedKinesis("fail-first", "down")
    writer = KinesisWriter(kinesis, "s", max_backoff_s=0)
    frames = [frame("BTCUSDT", 1), frame("BTCUSDT", 2), frame("ETHUSDT", 7)]
    with pytest.raises(PartialPutError) as raised:
        writer.put_frames(frames)
    assert sorted(raised.value.unaccepted + kinesis.stored) == sorted(frames)
    assert not set(raised.value.unaccepted) & set(kinesis.stored)
