"""One Binance websocket connection, and the supervisor that keeps one URL always covered.

The supervisor reconnects with backoff (honouring Retry-After on 429/418), replaces a
connection that went silent (no-data watchdog), and rotates before Binance's 24 h limit or on
`serverShutdown` by opening the replacement first and closing the old connection only once the
new one delivers: trades seen on both are deduplicated downstream by (symbol, trade id).

Every way a connection can end - a refused or malformed handshake, a protocol error, a bad
reply to the replacement connection, anything the library raises - ends in a logged, counted
reconnect with backoff. Nothing stops the supervisor but cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from k2_connector.backoff import Backoff
from k2_connector.streams import describe_url

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, "Connection"], Awaitable[None]]


@dataclass(frozen=True)
class ConnectionSettings:
    no_data_timeout_s: float = 10.0  # watchdog: a connection silent this long is replaced
    rotate_after_s: float = 23.5 * 3600  # Binance closes connections after 24 h
    handover_timeout_s: float = 30.0  # how long a replacement may take to deliver
    open_timeout_s: float = 10.0
    ping_interval_s: float = 20.0  # our own pings: a dead link is noticed within ~2 intervals
    ping_timeout_s: float = 20.0
    # a closing handshake the server does not answer (it is busy sending) holds a stop or a
    # rotation this long at most; websockets' default of 10 s ate half the drain deadline
    close_timeout_s: float = 2.0
    backoff_cap_s: float = 128.0  # reconnect delays: 1 s doubling up to this, full jitter
    stable_after_s: float = 60.0  # a connection up this long resets the backoff


class Connection:
    """A running connection task with the events its supervisor waits on."""

    def __init__(self, url: str, settings: ConnectionSettings, on_frame: FrameHandler) -> None:
        self.url, self._settings, self._on_frame = url, settings, on_frame
        self.opened = asyncio.Event()
        self.first_frame = asyncio.Event()
        self.rotation_due = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.retry_after_s: float | None = None
        self.opened_at = 0.0
        self._task = asyncio.create_task(self._run())

    def lasted_s(self) -> float:
        return time.monotonic() - self.opened_at if self.opened_at else 0.0

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        settings = self._settings
        try:
            async with connect(
                self.url, open_timeout=settings.open_timeout_s, max_size=2**22,
                ping_interval=settings.ping_interval_s, ping_timeout=settings.ping_timeout_s,
                close_timeout=settings.close_timeout_s,
            ) as websocket:  # fmt: skip
                self.opened_at = time.monotonic()
                self.opened.set()
                rotation = asyncio.get_running_loop().call_later(
                    settings.rotate_after_s, self.rotation_due.set
                )
                loop = asyncio.get_running_loop()
                try:
                    # one watchdog, pushed back on every frame (cheaper than wait_for per frame)
                    async with asyncio.timeout(settings.no_data_timeout_s) as watchdog:
                        while True:
                            frame = await websocket.recv(decode=False)
                            watchdog.reschedule(loop.time() + settings.no_data_timeout_s)
                            self.first_frame.set()
                            await self._on_frame(frame, self)
                finally:
                    rotation.cancel()
        except TimeoutError:
            self.end_reason = "stalled" if self.opened.is_set() else "open_timeout"
        except InvalidStatus as error:
            status = error.response.status_code
            self.end_reason = f"http_{status}"
            retry_after = error.response.headers.get("Retry-After")
            self.retry_after_s = float(retry_after) if retry_after else None
        except ConnectionClosed:
            self.end_reason = "closed"
        except OSError as error:
            self.end_reason = f"connect_failed: {error.__class__.__name__}"
        except Exception as error:  # InvalidMessage, InvalidURI, ProtocolError, ...
            self.end_reason = f"error: {error.__class__.__name__}"
            log.warning("connection to %s failed: %r", describe_url(self.url), error)
        finally:
            self.ended.set()


class Supervisor:
    """Keeps `url` covered by exactly one delivering connection (two during a handover)."""

    def __init__(
        self,
        url: str,
        settings: ConnectionSettings,
        on_frame: FrameHandler,
        on_reconnected: Callable[[Connection], None],
        on_replaced: Callable[[str], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.url, self._settings = url, settings
        self._on_frame, self._on_reconnected, self._on_replaced = (
            on_frame,
            on_reconnected,
            on_replaced,
        )
        self._backoff = backoff or Backoff(
            cap_s=settings.backoff_cap_s, stable_after_s=settings.stable_after_s
        )
        self.rotations = 0
        self.current: Connection | None = None

    async def run(self) -> None:
        self.current = await self._open()
        try:
            while True:
                try:
                    await self._step()
                except Exception as error:  # never stop reading: replace and carry on
                    log.exception("connection supervisor for %s: %r; reconnecting",
                                  describe_url(self.url), error)  # fmt: skip
                    self._on_replaced(f"error: {error.__class__.__name__}")
                    await asyncio.sleep(self._backoff.next_delay())
                    await self._replace_current()
        finally:
            if self.current:
                await self.current.close()

    async def _step(self) -> None:
        assert self.current is not None
        await _first_of(self.current.ended, self.current.rotation_due)
        if self.current.ended.is_set():
            await self._reconnect()
        else:
            await self._rotate()

    async def _replace_current(self) -> None:
        old, self.current = self.current, None
        if old:
            await old.close()
        self.current = await self._open()

    async def _open(self) -> Connection:
        connection = Connection(self.url, self._settings, self._on_frame)
        await _first_of(connection.opened, connection.ended)
        return connection

    async def _reconnect(self) -> None:
        assert self.current is not None
        reason = self.current.end_reason or "unknown"
        self._backoff.connection_lasted(self.current.lasted_s())
        delay = self._backoff.next_delay(self.current.retry_after_s)
        log.warning("connection to %s ended (%s); reconnecting in %.1f s",
                    describe_url(self.url), reason, delay)  # fmt: skip
        self._on_replaced(reason)
        await asyncio.sleep(delay)
        self.current = await self._open()
        if self.current.opened.is_set():
            self._on_reconnected(self.current)

    async def _rotate(self) -> None:
        """Make before break: the old connection keeps delivering until the new one does."""
        assert self.current is not None
        replacement = await self._open()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                _first_of(replacement.first_frame, replacement.ended),
                timeout=self._settings.handover_timeout_s,
            )
        if replacement.first_frame.is_set():
            old, self.current = self.current, replacement
            await old.close()
            self.rotations += 1
            self._on_replaced("rotation")
            return
        reason = replacement.end_reason or "no frame in the handover timeout"
        log.warning("replacement connection to %s failed (%s); keeping the old one, retrying",
                    describe_url(self.url), reason)  # fmt: skip
        self._on_replaced(f"rotation_failed: {reason}")
        await replacement.close()  # keep the old one; try again after a short pause
        self.current.rotation_due.clear()
        asyncio.get_running_loop().call_later(
            self._backoff.next_delay(), self.current.rotation_due.set
        )


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
