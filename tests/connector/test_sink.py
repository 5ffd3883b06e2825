"""The Kinesis sink never drops: it degrades, spills to the journal, and pushes back."""

from __future__ import annotations

import asyncio

import pytest

from k2_connector.journal import Journal, JournalBusyError
from k2_connector.sink import KinesisSink, Level

pytestmark = pytest.mark.unit


class Kinesis:
    """A writer that can be switched down, recording what it accepted."""

    def __init__(self) -> None:
        self.up = True
        self.accepted: list[bytes] = []

    def __call__(self, frames) -> None:
        if not self.up:
            raise ConnectionError("kinesis down")
        self.accepted.extend(frames)


def frames(count: int, start: int = 0) -> list[bytes]:
    return [b"frame-%06d" % i for i in range(start, start + count)]


def test_levels_follow_buffer_fill_and_spill_to_the_journal_at_aggressive(tmp_path):
    async def scenario():
        kinesis = Kinesis()
        kinesis.up = False
        sink = KinesisSink(kinesis, Journal(tmp_path), max_frames=100)
        levels = []
        for frame in frames(120):
            await sink.put(frame)
            levels.append(sink.level)
        assert levels[10] is Level.NORMAL
        assert levels[55] is Level.SOFT
        assert levels[75] is Level.GRACEFUL
        assert sink.depth == 85  # everything after 85 % went to disk
        assert sink.stats.journaled == 35
        kinesis.up = True
        assert await sink.drain()
        assert kinesis.accepted == frames(120)  # in order: memory first, then the journal

    asyncio.run(scenario())


def test_a_failing_kinesis_is_retried_until_it_recovers(tmp_path):
    async def scenario():
        kinesis = Kinesis()
        sink = KinesisSink(kinesis, Journal(tmp_path), flush_interval_s=0.01)
        flusher = asyncio.create_task(sink.run())
        kinesis.up = False
        for frame in frames(10):
            await sink.put(frame)
        await asyncio.sleep(0.3)
        assert sink.stats.put_failures >= 1
        assert not sink.healthy
        assert sink.level is Level.GRACEFUL
        kinesis.up = True
        await asyncio.sleep(0.5)
        flusher.cancel()
        assert kinesis.accepted == frames(10)
        assert sink.healthy

    asyncio.run(scenario())


def test_circuit_break_stops_accepting_until_the_journal_drains(tmp_path):
    async def scenario():
        kinesis = Kinesis()
        kinesis.up = False
        sink = KinesisSink(kinesis, Journal(tmp_path), max_frames=10, max_journal_bytes=100)
        # 9 frames fill memory to 85 %, then 7 journaled frames of 16 bytes pass the budget
        for frame in frames(16):
            await asyncio.wait_for(sink.put(frame), timeout=1)
        assert sink.level is Level.CIRCUIT_BREAK
        blocked = asyncio.create_task(sink.put(b"the next frame"))
        await asyncio.sleep(0.1)
        assert not blocked.done()  # the reader is held back, nothing is dropped
        kinesis.up = True
        assert await sink.drain()
        await asyncio.wait_for(blocked, timeout=1)
        assert await sink.drain()
        assert kinesis.accepted == [*frames(16), b"the next frame"]

    asyncio.run(scenario())


def test_journal_survives_a_restart_and_ignores_a_torn_tail(tmp_path):
    journal = Journal(tmp_path)
    journal.append(frames(3))
    batch, offset = journal.peek(2)
    journal.commit(offset)
    with (tmp_path / "journal.bin").open("ab") as torn:
        torn.write(b"\x00\x00\x01")  # a crash in the middle of a length prefix
    journal.close()  # the process is gone
    reopened = Journal(tmp_path)
    assert reopened.peek(10)[0] == frames(1, start=2)
    assert batch == frames(2)


def test_one_connector_at_a_time_owns_a_journal_directory(tmp_path):
    first = Journal(tmp_path)
    with pytest.raises(JournalBusyError):
        Journal(tmp_path)  # another connector pointed at the same directory
    first.close()
    Journal(tmp_path).close()  # released: the next one takes it
