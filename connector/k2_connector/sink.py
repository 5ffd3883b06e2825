"""Frames -> Kinesis with a bounded buffer, five degradation levels, and no data loss.

Levels (as in the original platform, but nothing is ever dropped):
  NORMAL         buffer < 50 %: batch for up to `flush_interval_s`
  SOFT           buffer >= 50 %: flush without waiting for the batching window
  GRACEFUL       buffer >= 70 % or Kinesis failing: reported not-ready, warnings logged
  AGGRESSIVE     buffer >= 85 %: new frames spill to the fsynced on-disk journal
  CIRCUIT_BREAK  journal over its budget: `put` blocks, so the connector stops reading
Frames that reach the journal are delivered from it, in order, when Kinesis recovers; while
the journal holds frames, new frames queue behind them in it (first in, first out). Spilled
frames are appended in groups with one fsync per group (an fsync per frame costs ~150 us), and
always fsynced before the sink reports CIRCUIT_BREAK, so the reader stops only once they are
on disk. On stop, whatever Kinesis did not take in time goes to the journal (`persist`), so
every frame read is in Kinesis or on disk before the connector moves its resume points.

A frame Kinesis refuses for good (a non-retryable PutRecords error) is found by bisecting the
refused batch and handed to `on_undeliverable` with the reason; the frames around it go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from k2.adapters.kinesis.writer import PartialPutError, permanent_failure
from k2_connector.journal import Journal

log = logging.getLogger(__name__)
SPILL_GROUP_FRAMES = 256
FrameWriter = Callable[[Sequence[bytes]], None]  # blocking, raises when Kinesis is unreachable
Undeliverable = Callable[[bytes, str], Awaitable[None]]  # (frame, reason)


class Level(IntEnum):
    NORMAL = 0
    SOFT = 1
    GRACEFUL = 2
    AGGRESSIVE = 3
    CIRCUIT_BREAK = 4


@dataclass
class SinkStats:
    frames_in: int = 0
    frames_out: int = 0
    put_failures: int = 0
    journaled: int = 0
    persisted_at_stop: int = 0  # frames Kinesis did not take before the stop deadline
    undeliverable: int = 0
    put_latency_s: float = 0.0  # of the last successful put


class KinesisSink:
    def __init__(
        self,
        write: FrameWriter,
        journal: Journal,
        max_frames: int = 10_000,
        max_bytes: int = 10 * 1024 * 1024,
        batch_frames: int = 2_000,
        flush_interval_s: float = 0.2,
        max_journal_bytes: int = 1024**3,
        on_undeliverable: Undeliverable | None = None,
    ) -> None:
        self._write, self._journal = write, journal
        self._on_undeliverable = on_undeliverable
        self._max_frames, self._max_bytes = max_frames, max_bytes
        self._batch_frames, self._flush_interval_s = batch_frames, flush_interval_s
        self._max_journal_bytes = max_journal_bytes
        self._buffer: deque[bytes] = deque()
        self._buffered_bytes = 0
        self._kinesis_failing = False
        self._spill: list[bytes] = []  # waiting for the next grouped, fsynced journal append
        self._spill_bytes = 0
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.stats = SinkStats()

    @property
    def depth(self) -> int:
        return len(self._buffer)

    @property
    def level(self) -> Level:
        if self._journal.pending_bytes + self._spill_bytes > self._max_journal_bytes:
            return Level.CIRCUIT_BREAK
        if self._spill:
            return Level.AGGRESSIVE
        fill = max(len(self._buffer) / self._max_frames, self._buffered_bytes / self._max_bytes)
        if fill >= 0.85:
            return Level.AGGRESSIVE
        if fill >= 0.70 or self._kinesis_failing:
            return Level.GRACEFUL
        return Level.SOFT if fill >= 0.5 else Level.NORMAL

    @property
    def journal_bytes(self) -> int:
        return self._journal.pending_bytes

    @property
    def healthy(self) -> bool:
        return not self._kinesis_failing

    @property
    def drained(self) -> bool:
        return not self._buffer and not self._spill and self._journal.pending_bytes == 0

    async def put(self, frame: bytes) -> None:
        """Accept a frame; waits (stops the reader) only at CIRCUIT_BREAK."""
        while self.level is Level.CIRCUIT_BREAK:
            self._write_spill()  # on disk before the reader stops
            self._room.clear()
            await self._room.wait()
        self.stats.frames_in += 1
        level = self.level
        if level >= Level.AGGRESSIVE or self._journal.pending_bytes:
            self._spill.append(frame)
            self._spill_bytes += len(frame) + 4  # as it will sit in the journal
            self.stats.journaled += 1
            if len(self._spill) >= SPILL_GROUP_FRAMES:
                self._write_spill()
        else:
            self._buffer.append(frame)
            self._buffered_bytes += len(frame)
        if level >= Level.SOFT or len(self._buffer) >= self._batch_frames:
            self._wakeup.set()
            # A reader with data waiting never yields on its own (awaiting an already-received
            # frame does not suspend), so give the flusher its turn here.
            await asyncio.sleep(0)

    def close(self) -> None:
        """Release the journal (after `persist`): the next connector may take it over."""
        self._journal.close()

    def _write_spill(self) -> None:
        if self._spill:
            self._journal.append(self._spill)
            self._spill, self._spill_bytes = [], 0

    def stop(self) -> None:
        """Ask `run` to return after its current round (a put in flight is never abandoned:
        its thread would finish the write while nobody records it, and it would be resent)."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Flush until stop(); every failure is retried with backoff, never dropped."""
        failures = 0
        while not self._stopping:
            if not self._buffer and not self._spill and not self._journal.pending_bytes:
                self._wakeup.clear()
                await self._wait_for_work()
            delivered = await self._flush_once()
            failures = 0 if delivered else failures + 1
            if failures and not self._stopping:
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    async def drain(self, timeout_s: float = 60.0) -> bool:
        """Deliver everything buffered and journaled (graceful shutdown), for at most
        `timeout_s` (a put in flight at the deadline is waited for, never abandoned)."""
        deadline = time.monotonic() + timeout_s
        while not self.drained and time.monotonic() < deadline:
            if not await self._flush_once():
                await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
        return self.drained

    def persist(self) -> int:
        """Put everything still in memory into the journal, fsynced; returns how many frames.

        After this every frame the sink accepted is in Kinesis or on disk, which is what lets
        the connector save resume points past them. The journal is delivered first by the next
        start. Order across the two does not matter: downstream sorts by trade time and
        deduplicates by trade id."""
        frames = [*self._buffer, *self._spill]
        if frames:
            self._journal.append(frames)
        self._buffer.clear()
        self._buffered_bytes = 0
        self._spill, self._spill_bytes = [], 0
        self.stats.persisted_at_stop += len(frames)
        return len(frames)

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval_s)

    async def _flush_once(self) -> bool:
        """One PutRecords round from the buffer, else from the journal. False on failure."""
        self._write_spill()  # spilled frames reach the disk at least once per flush round
        from_journal = not self._buffer
        if from_journal:
            batch, offset = self._journal.peek(self._batch_frames)
        else:
            batch = [self._buffer[i] for i in range(min(self._batch_frames, len(self._buffer)))]
        if not batch:
            return True
        started = time.perf_counter()
        unaccepted: list[bytes] = []
        set_aside_before = self.stats.undeliverable
        try:
            await asyncio.to_thread(self._write, batch)
        except PartialPutError as error:
            unaccepted = error.unaccepted  # the rest is in Kinesis: never send it again
            self._note_failure(error)
        except Exception as error:
            if not permanent_failure(error):
                self._note_failure(error)
                return False
            unaccepted = await self._set_aside_undeliverable(batch, error)
        else:
            self._kinesis_failing = False
            self.stats.put_latency_s = time.perf_counter() - started
        set_aside = self.stats.undeliverable - set_aside_before
        self.stats.frames_out += len(batch) - len(unaccepted) - set_aside
        if from_journal:
            self._journal.commit(offset)
        else:
            for frame in batch:
                self._buffer.popleft()
                self._buffered_bytes -= len(frame)
        for frame in reversed(unaccepted):  # retried first, from memory
            self._buffer.appendleft(frame)
            self._buffered_bytes += len(frame)
        self._room.set()
        return not unaccepted

    async def _set_aside_undeliverable(self, batch: list[bytes], error: Exception) -> list[bytes]:
        """Kinesis refused `batch` for good: put what it takes, hand over the frames it refuses
        even alone; return the frames still to retry (a transient failure while bisecting)."""
        if len(batch) == 1:
            self.stats.undeliverable += 1
            if self._on_undeliverable:
                await self._on_undeliverable(batch[0], f"kinesis_refused: {error}"[:300])
            return []
        retry: list[bytes] = []
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                await asyncio.to_thread(self._write, half)
            except PartialPutError as partial:
                retry += partial.unaccepted
            except Exception as refused:
                if not permanent_failure(refused):
                    retry += half
                else:
                    retry += await self._set_aside_undeliverable(half, refused)
        return retry

    def _note_failure(self, error: Exception) -> None:
        self.stats.put_failures += 1
        if not self._kinesis_failing:
            log.warning("Kinesis put failed, retrying (nothing is dropped): %r", error)
        self._kinesis_failing = True
