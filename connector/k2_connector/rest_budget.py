"""One REST request-weight budget per IP, shared by every backfill task.

Binance limits each IP by request weight per minute (spot: 6,000; historicalTrades weighs 25),
answers 429 with Retry-After when a client goes over, and bans the IP (418, from 2 minutes up
to 3 days) when it keeps going. So the budget is global, not per task: every request spends
from it, the server's own count (`X-MBX-USED-WEIGHT-1M`) corrects ours, and one 429/418 holds
every task until the server's wait is over - the way polyoxide-binance and the Binance
connectors do it. Requests go one at a time, so no second request is already on its way when a
429 arrives. Every wait ends at once when the connector stops, so a two-minute ban never
delays a shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

MINUTE_S = 60.0


class StoppedError(RuntimeError):
    """The connector is stopping: the request was not sent."""


class RestBudget:
    def __init__(
        self,
        weight_per_minute: int = 3_000,  # half of Binance's 6,000: room for other clients
        stopping: asyncio.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit, self._clock = weight_per_minute, clock
        self._stopping = stopping or asyncio.Event()
        self._window_start = clock()
        self._used = 0
        self.held_until = 0.0  # nothing is sent before this (a 429/418's Retry-After)
        self.bans = 0
        self.waited_s = 0.0
        self._one_at_a_time = asyncio.Lock()

    @property
    def limit(self) -> int:
        """The weight this budget spends a minute at most."""
        return self._limit

    @asynccontextmanager
    async def request(self, weight: int) -> AsyncIterator[None]:
        """Hold the one request slot, with `weight` spent, for the length of the block."""
        async with self._one_at_a_time:
            await self.spend(weight)
            yield

    async def spend(self, weight: int) -> None:
        """Wait until `weight` fits in this minute's budget and no ban holds, then spend it.
        Raises StoppedError as soon as the connector stops."""
        while True:
            now = self._clock()
            if now - self._window_start >= MINUTE_S:
                self._window_start, self._used = now, 0
            wait = max(self.held_until - now, 0.0)
            if not wait and self._used + weight > self._limit:
                wait = self._window_start + MINUTE_S - now
            if wait <= 0:
                self._used += weight
                return
            await self._sleep(wait)

    def observe_used_weight(self, used: int) -> None:
        """The server's count of this minute's weight (X-MBX-USED-WEIGHT-1M) wins over ours."""
        self._used = max(self._used, used)

    def hold(self, retry_after_s: float) -> None:
        """A 429 or 418: nobody sends anything for `retry_after_s`."""
        self.bans += 1
        self.held_until = max(self.held_until, self._clock() + retry_after_s)

    async def _sleep(self, seconds: float) -> None:
        if self._stopping.is_set():
            raise StoppedError("stopping: REST request not sent")
        started = self._clock()
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        finally:
            self.waited_s += self._clock() - started
        raise StoppedError("stopping: REST request not sent")
