"""The connector process: websocket supervisors -> router -> Kinesis sink, plus backfill.

Stopping (SIGTERM, or `stop()`) ends within `drain_deadline_s` plus one Kinesis put: stop
reading, interrupt backfills (REST waits end at once), deliver the buffer and the journal to
Kinesis until the deadline, then write whatever Kinesis did not take to the fsynced journal.
Only then are the resume points saved: every trade they pass over is in Kinesis or on disk, and
the gaps still open are saved with them, so the next start delivers the journal first and
backfills those gaps and everything since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from k2.adapters.kinesis.writer import fits_in_a_record
from k2.domain.instrument import DEFAULT_MARKET
from k2_connector.backfill import Backfiller
from k2_connector.backoff import Backoff
from k2_connector.dead_letters import ConnectorDeadLetters
from k2_connector.gap_log import GapLog
from k2_connector.journal import Journal
from k2_connector.last_ids import IdSpan, fetch_tickers
from k2_connector.listings import Listing, fetch_listing
from k2_connector.markets import MARKET_APIS
from k2_connector.rest import RateLimitedError, RestClient
from k2_connector.rest_budget import RestBudget, StoppedError
from k2_connector.router import Action, Routed, Router, trade_symbol
from k2_connector.sequencer import Gap, Sequencer
from k2_connector.sink import FrameWriter, KinesisSink
from k2_connector.streams import (
    BINANCE_REST_URL,
    BINANCE_WS_URL,
    MAX_STREAMS_PER_CONNECTION,
    connection_urls,
    describe_url,
    stream_names,
    stream_symbols,
)
from k2_connector.websocket import Connection, ConnectionSettings, Supervisor

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKFILL_ATTEMPTS = 5  # per gap; a gap REST cannot fill is recorded unfilled


@dataclass(frozen=True)
class ConnectorSettings:
    symbols: tuple[str, ...] = ()
    # Instead of `symbols`: every TRADING symbol of `market` from its exchangeInfo, polled
    # every `listing_refresh_s` for listings and delistings (k2_connector.listings).
    all_symbols: bool = False
    listing_refresh_s: float = 300.0
    market: str = DEFAULT_MARKET
    ws_base_url: str = BINANCE_WS_URL
    rest_base_url: str | None = BINANCE_REST_URL  # None: gaps are recorded, not backfilled
    streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    journal_dir: Path = Path("/tmp/k2-connector-journal")  # noqa: S108 - overridable default
    kinds: tuple[str, ...] = ("trade",)  # add "aggTrade" to also forward aggregate trades
    symbol_silence_s: float = 0.0  # >0: replace a connection when one symbol is this quiet
    buffer_frames: int = 10_000
    buffer_bytes: int = 10 * 1024 * 1024
    flush_interval_s: float = 0.2
    # A stop delivers for at most this long, then journals the rest; with one Kinesis put in
    # flight (at most ~40 s with the connector's client settings) it stays under the task's
    # 120 s StopTimeout.
    drain_deadline_s: float = 20.0
    stall_timeout_s: float = 60.0  # /health fails when no connection has read for this long
    # None: half the market's per-IP limit (spot 3,000 of 6,000; futures 1,200 of 2,400),
    # leaving room for other clients on the IP (k2_connector.rest_budget, .markets)
    rest_weight_per_minute: int | None = None
    backfill_retry_cap_s: float = 30.0  # longest pause between a gap's backfill attempts
    handles_sigterm: bool = True  # False inside a program that handles its own signals
    journal_wait_s: float = 0.0  # for another connector to release the journal directory


@dataclass
class ConnectorStats:
    frames_in: int = 0
    frames_forwarded: int = 0
    trades_forwarded: int = 0  # distinct trade ids, from the websocket or REST
    unsubscribed: int = 0  # trades of symbols not subscribed to (forwarded all the same)
    duplicates: int = 0
    gaps: int = 0
    gap_ids: int = 0
    backfilled: int = 0
    backfill_failures: int = 0
    unserved: int = 0  # ids REST passed over (futures: insurance-fund, ADL; past its reach)
    backfills_interrupted: int = 0
    dead_letters: int = 0
    silent_symbol_replacements: int = 0
    listed: int = 0  # symbols subscribed after start (whole-market mode)
    delisted: int = 0
    reconnects: Counter[str] = field(default_factory=Counter)


class Connector:
    def __init__(
        self, settings: ConnectorSettings, write: FrameWriter, gap_log: GapLog | None = None,
        dead_letters: ConnectorDeadLetters | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        if settings.all_symbols and not settings.rest_base_url:
            raise ValueError("all_symbols needs a REST URL to read exchangeInfo from")
        self.sequencer = Sequencer()
        self.router = Router(self.sequencer, settings.market)
        self._stopping = asyncio.Event()
        self.sink = KinesisSink(
            write, Journal(settings.journal_dir, settings.journal_wait_s),
            max_frames=settings.buffer_frames,
            max_bytes=settings.buffer_bytes, flush_interval_s=settings.flush_interval_s,
            on_undeliverable=self._undeliverable,
        )  # fmt: skip
        self.api = MARKET_APIS[settings.market]
        weight = settings.rest_weight_per_minute or self.api.weight_per_minute // 2
        self.rest_budget = RestBudget(weight, self._stopping)
        self.rest = (
            RestClient(settings.rest_base_url, self.rest_budget) if settings.rest_base_url else None
        )
        self.backfiller = Backfiller(self.rest, self.api) if self.rest else None
        self.stats = ConnectorStats()
        self.gap_log = gap_log or GapLog(settings.journal_dir, market=settings.market)
        self.dead_letters = dead_letters or ConnectorDeadLetters(settings.journal_dir)
        self.symbols: list[str] = []  # every symbol streamed in this run, delisted ones too
        self._subscribed: set[str] = set()  # the symbols streamed now
        self.supervisors: list[Supervisor] = []
        self._readers: dict[Supervisor, asyncio.Task[None]] = {}
        self._symbols_by_url: dict[str, list[str]] = {}
        self._first_listing: Listing | None = None
        self._unanchored: set[str] = set()  # no trade in the 24 h before start (last_ids.py)
        # stream key -> id ranges REST just passed over, so the gap their absence opens when
        # the next row is delivered is recorded as unfillable instead of asked for again
        self._unserved: dict[str, set[tuple[int, int]]] = {}
        self._add_connections(settings.symbols)
        self._last_trade_at: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._probes: set[asyncio.Task[None]] = set()  # reconnect probes, no known gap
        self.last_frame_at = 0.0
        self._started_at = time.monotonic()

    @property
    def open_gap_ids(self) -> int:
        return sum(self.sequencer.open_gap_ids(f"{s}@trade") for s in self.symbols)

    @property
    def backfilling(self) -> bool:
        """Backfills of known gaps (or the gap records they write) still running; reconnect
        probes, which only ask REST whether anything followed the last id seen, are not."""
        return bool(self._background - self._probes)

    def ready(self) -> bool:
        """Connected, receiving recently, and Kinesis writable."""
        connected = all(s.current and s.current.opened.is_set() for s in self.supervisors)
        silent_s = time.monotonic() - self.last_frame_at
        receiving = silent_s < self.settings.connection.no_data_timeout_s
        return connected and receiving and self.sink.healthy

    def alive(self) -> bool:
        """Reading: some connection delivered a frame within the stall timeout (or the
        connector started less than that ago). /health reports this, so an orchestrator
        replaces a connector whose reading stopped for good."""
        silent_s = time.monotonic() - max(self.last_frame_at, self._started_at)
        return silent_s < self.settings.stall_timeout_s

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> bool:
        """Run until stop(); returns True when everything read was delivered to Kinesis."""
        if not self.settings.handles_sigterm:
            return await self._run_until_stopped()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
        try:
            return await self._run_until_stopped()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)

    async def _run_until_stopped(self) -> bool:
        flusher = asyncio.create_task(self.sink.run())
        watchers = []
        try:
            if self.settings.all_symbols:
                await self._subscribe_listed()
                watchers.append(asyncio.create_task(self._follow_listings()))
            self._resume()
            if self.backfiller:
                await self._seed_from_tickers()
            for supervisor in self.supervisors:
                self._start_reading(supervisor)
            if self.settings.symbol_silence_s > 0:
                watchers.append(asyncio.create_task(self._watch_symbol_silence()))
            await self._stopping.wait()
        finally:
            deadline = time.monotonic() + self.settings.drain_deadline_s
            tasks = watchers + list(self._readers.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._end_background(timeout_s=2.0)
            self.sink.stop()
            await asyncio.gather(flusher, return_exceptions=True)  # a put in flight finishes
        drained = await self.sink.drain(timeout_s=max(deadline - time.monotonic(), 0.0))
        try:
            journaled = self.sink.persist()
            if journaled:
                log.warning("stop deadline: %d frames journaled for the next start", journaled)
            self._save_resume_points()
        except OSError as error:  # keep the old resume points: the next start refetches more
            log.error("could not journal undelivered frames at stop: %r", error)
            return False
        finally:
            self.sink.close()  # only now may the next connector take the directory
        return drained

    async def _end_background(self, timeout_s: float) -> None:
        """Backfills see the stop at their next REST wait and return; any still running
        after `timeout_s` (a request in flight) is cancelled. Their gaps stay open in the
        resume points."""
        if not self._background:
            return
        _, running = await asyncio.wait(set(self._background), timeout=timeout_s)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    # --- subscriptions -----------------------------------------------------------------------

    def _add_connections(self, symbols: Sequence[str]) -> list[Supervisor]:
        """Supervisors for `symbols` on connections of their own (a running connection keeps
        its URL: Binance's combined-stream URL is the subscription)."""
        symbols = [symbol for symbol in symbols if symbol not in self._subscribed]
        kinds_by_route: dict[str, list[str]] = {}
        for kind in self.settings.kinds:  # USD-M serves trade and aggTrade on separate routes
            kinds_by_route.setdefault(self.api.route(kind), []).append(kind)
        urls = [
            url
            for route, kinds in kinds_by_route.items()
            for url in connection_urls(
                self.settings.ws_base_url.rstrip("/") + route,
                stream_names(symbols, kinds),
                min(self.settings.streams_per_connection, self.api.max_streams_per_connection),
            )
        ]
        by_name = {symbol.lower(): symbol for symbol in symbols}
        added = []
        for url in urls:
            self._symbols_by_url[url] = sorted(
                by_name[n] for n in stream_symbols(url) if n in by_name
            )
            added.append(Supervisor(url, self.settings.connection, self._on_frame,
                                    self._on_reconnected, self._count_replacement))  # fmt: skip
        self.supervisors.extend(added)
        known = set(self.symbols)
        self.symbols.extend(symbol for symbol in symbols if symbol not in known)
        self._subscribed.update(symbols)
        return added

    def _start_reading(self, supervisor: Supervisor) -> None:
        self._readers[supervisor] = asyncio.create_task(supervisor.run())

    async def _subscribe_listed(self) -> None:
        """The first exchangeInfo read decides what to stream; retried (with backoff) until it
        succeeds or the connector stops: without it there is nothing to subscribe to."""
        backoff = Backoff(base_s=1.0, cap_s=self.settings.backfill_retry_cap_s)
        while (listing := await self._read_listing()) is None:
            if await self._stopped_within(backoff.next_delay()):
                return
        self._first_listing = listing
        trading = sorted(self._first_listing.trading)
        self._add_connections(trading)
        log.info("streaming all %d TRADING %s symbols over %d connections", len(trading),
                 self.settings.market, len(self.supervisors))  # fmt: skip

    async def _read_listing(self) -> Listing | None:
        """The market's exchangeInfo; None when REST cannot say (logged)."""
        assert self.rest is not None  # all_symbols requires a REST URL
        return await self._ask_rest("exchangeInfo", fetch_listing(self.rest, self.settings.market))

    async def _follow_listings(self) -> None:
        """Poll exchangeInfo; a poll that fails is logged and the next one tried."""
        while not await self._stopped_within(self.settings.listing_refresh_s):
            if (listing := await self._read_listing()) is not None:
                await self._apply_listing(listing)

    async def _apply_listing(self, listing: Listing) -> None:
        """Subscribe symbols that started trading and drop connections left with none. A new
        listing's trades so far are fetched over REST before it is subscribed (so its first
        websocket trade follows them in the sequencer, or reveals a gap); a symbol seen
        earlier in this run catches up from its last id, like a reconnect."""
        assert self._first_listing is not None
        trading = listing.trading
        delisted = self._subscribed - trading
        if delisted:
            self._subscribed -= delisted
            self.stats.delisted += len(delisted)
            log.warning(
                "no longer trading on %s: %s", self.settings.market, ", ".join(sorted(delisted))
            )
            await self._drop_idle_connections()
        listed = sorted(trading - self._subscribed)
        if not listed:
            return
        log.warning("now trading on %s: %s", self.settings.market, ", ".join(listed))
        for symbol in self._first_listing.new_listings(listed):
            if self.sequencer.highest(f"{symbol}@trade") is None:
                await self._backfill(symbol, 0, -1, None)
        for symbol in listed:
            self._probe(symbol, -1)
        for supervisor in self._add_connections(listed):
            self._start_reading(supervisor)
        self.stats.listed += len(listed)

    async def _drop_idle_connections(self) -> None:
        """Close the connections none of whose symbols is still trading."""
        idle = [
            s for s in self.supervisors
            if not any(symbol in self._subscribed for symbol in self._symbols_by_url[s.url])
        ]  # fmt: skip
        for supervisor in idle:
            self.supervisors.remove(supervisor)
            reader = self._readers.pop(supervisor, None)
            if reader:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    # --- frames ------------------------------------------------------------------------------

    async def _on_frame(self, frame: bytes, connection: Connection) -> None:
        self.stats.frames_in += 1
        self.last_frame_at = time.monotonic()
        routed = self.router.route(frame)
        if routed.symbol:
            self._last_trade_at[routed.symbol] = self.last_frame_at
        if routed.action is Action.SERVER_SHUTDOWN:
            log.warning("serverShutdown on %s: rotating", describe_url(connection.url))
            connection.rotation_due.set()
        else:
            await self._accept(frame, routed, backfilled=False)

    async def _deliver_backfilled(self, frame: bytes) -> None:
        await self._accept(frame, self.router.route(frame), backfilled=True)

    async def _accept(self, frame: bytes, routed: Routed, backfilled: bool) -> None:
        """The one place a routed frame is counted, stored and its gap followed up, whether
        it came over the websocket or from REST (a REST page can reveal a gap too)."""
        if routed.action is Action.DUPLICATE:
            self.stats.duplicates += 1
        elif routed.action is Action.FORWARD and not fits_in_a_record(frame):
            await self._dead_letter(frame, f"oversize: {len(frame)} bytes", routed.symbol)
        elif routed.action is Action.FORWARD:
            if backfilled:
                self.stats.backfilled += 1
            else:
                self.stats.frames_forwarded += 1
            if routed.symbol is not None:
                self.stats.trades_forwarded += 1
                self.stats.unsubscribed += routed.symbol not in self._subscribed
            await self.sink.put(frame)
            if routed.gap:
                self._on_gap(routed.gap)

    async def _dead_letter(self, frame: bytes, reason: str, symbol: str | None) -> None:
        self.stats.dead_letters += 1
        await self.dead_letters.record(frame, reason, is_trade=symbol is not None)

    async def _undeliverable(self, frame: bytes, reason: str) -> None:
        """The sink's callback for a frame Kinesis refused for good."""
        await self._dead_letter(frame, reason, trade_symbol(frame))

    async def _watch_symbol_silence(self) -> None:
        """Replace a connection on which one of its symbols went quiet while others flow."""
        threshold = self.settings.symbol_silence_s
        while True:
            await asyncio.sleep(min(1.0, threshold / 2))
            now = time.monotonic()
            for supervisor in self.supervisors:
                connection = supervisor.current
                if not connection or not connection.opened.is_set():
                    continue
                if connection.lasted_s() < threshold or connection.rotation_due.is_set():
                    continue
                quiet = [
                    symbol for symbol in self._symbols_by_url.get(supervisor.url, [])
                    if now - self._last_trade_at.get(symbol, connection.opened_at) > threshold
                ]  # fmt: skip
                if quiet:
                    log.warning("no trades for %s in %.0f s: replacing the connection",
                                ", ".join(quiet), threshold)  # fmt: skip
                    self.stats.silent_symbol_replacements += 1
                    connection.rotation_due.set()

    # --- resume, gaps and catch-up ------------------------------------------------------------

    @property
    def _resume_file(self) -> Path:
        return self.settings.journal_dir / "resume.json"

    def _resume(self) -> None:
        """Continue where the last run stopped: its open gaps and everything after its last
        trade are fetched again (the journal it left is delivered first, by the sink)."""
        if not self._resume_file.exists():
            return
        points = read_resume_points(self._resume_file)
        for symbol in self.symbols:
            if symbol not in points:
                continue
            key = f"{symbol}@trade"
            point = points[symbol]
            self.sequencer.observe(key, point.highest)
            beyond_reach = self._beyond_rest_reach(point)
            for first_id, last_id in point.open:
                gap = self.sequencer.reopen(key, first_id, last_id)
                if beyond_reach:
                    self._track(self._record_unfillable(gap, None, gap.size, "trade", beyond_reach))
                else:
                    self._spawn_backfill(symbol, first_id, last_id, gap)
            self._spawn_backfill(symbol, point.highest + 1, -1)

    def _beyond_rest_reach(self, point: ResumePoint) -> str | None:
        """Why the open ranges of a resume point saved longer ago than historicalTrades
        reaches back cannot be fetched (no request is spent on them); None if they may be."""
        reach = self.api.rest_reach_days.get("trade")
        if not reach or point.saved_at_ms is None:
            return None
        age_days = (time.time() * 1000 - point.saved_at_ms) / 86_400_000
        if age_days <= reach:
            return None
        return f"older than REST's reach of {reach} days (saved {age_days:.0f} days ago)"

    def _save_resume_points(self) -> None:
        """Per symbol, the highest trade id read and the id ranges still missing below it;
        written to a temporary file, fsynced and renamed, so a crash leaves the old or the new
        points, never half of one."""
        points = {}
        for symbol in self.symbols:
            key = f"{symbol}@trade"
            highest = self.sequencer.highest(key)
            if highest is not None:
                points[symbol] = {"highest": highest, "open": self.sequencer.open_ranges(key),
                                  "saved_at_ms": int(time.time() * 1000)}  # fmt: skip
        partial = self._resume_file.with_suffix(".partial")
        with partial.open("w") as out:
            json.dump(points, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self._resume_file)

    def _on_gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        self.stats.gap_ids += gap.size
        log.warning("gap in %s: ids %d..%d (%d missing)", gap.symbol, gap.first_id,
                    gap.last_id, gap.size)  # fmt: skip
        symbol, _, kind = gap.symbol.partition("@")
        passed_over = self._unserved.get(gap.symbol, set())
        if (gap.first_id, gap.last_id) in passed_over:  # REST skipped them a moment ago
            passed_over.discard((gap.first_id, gap.last_id))
            self._track(self._record_unfillable(gap, None, gap.size, kind))
        elif self.backfiller:  # trade ids from historicalTrades, aggregate ids from aggTrades
            self._spawn_backfill(symbol, gap.first_id, gap.last_id, gap, kind)
        else:  # backfill disabled: recorded, not filled
            self._track(self.gap_log.record(gap, "unfilled"))

    def _on_reconnected(self, connection: Connection) -> None:
        """Fetch what was missed while away, even if no new trade comes to reveal the gap -
        for the symbols of this connection only, and only those that traded: one 24-hour
        ticker call names every symbol's last id (k2_connector.last_ids), where asking each
        symbol would cost a whole-market connection ~500 requests per reconnect."""
        if self.backfiller:
            symbols = self._symbols_by_url.get(connection.url, self.symbols)
            catch_up = self._track(self._catch_up_traded(symbols))
            if not self._unanchored.intersection(symbols):
                self._probes.add(catch_up)  # else it may find lost first trades: a backfill

    def _probe(self, symbol: str, last_id: int) -> None:
        """For each stream kind, backfill from the symbol's highest id seen on to trade id
        `last_id` (-1: the newest). Nothing to do once the websocket has delivered `last_id`
        or beyond: any id missing below it is then a gap the sequencer tracks and backfills.
        aggTrade ids are not trade ids: a symbol's aggregates are fetched from its highest
        aggregate id on, to the newest, when the trades they covered end before `last_id`."""
        if "trade" in self.settings.kinds:
            highest = self.sequencer.highest(f"{symbol}@trade")
            if highest is not None and (last_id < 0 or last_id > highest):
                self._probes.add(self._track(self._backfill(symbol, highest + 1, last_id, None)))
        if "aggTrade" in self.settings.kinds:
            highest = self.sequencer.highest(f"{symbol}@aggTrade")
            covered = self.router.agg_covered.get(symbol, -1)
            if highest is not None and (last_id < 0 or last_id > covered):
                catch_up = self._backfill(symbol, highest + 1, -1, None, "aggTrade")
                self._probes.add(self._track(catch_up))

    async def _tickers(self) -> dict[str, IdSpan] | None:
        """Every symbol's trade-id span of the last 24 h; None when REST cannot say."""
        assert self.rest is not None
        return await self._ask_rest("24hr ticker", fetch_tickers(self.rest, self.settings.market))

    async def _ask_rest(self, what: str, request: Coroutine[Any, Any, T]) -> T | None:
        """The answer of a one-off REST request (exchangeInfo, the ticker); None, logged, when
        it fails or the connector stops - the caller decides whether to retry."""
        try:
            return await request
        except StoppedError:
            return None
        except (RateLimitedError, OSError, ValueError) as error:
            log.warning("%s of %s failed: %r", what, self.settings.market, error)
            return None

    async def _seed_from_tickers(self) -> None:
        """Start each symbol's sequence at its last id before we subscribed (see
        k2_connector.last_ids); a symbol resumed from a previous run keeps its resume point.
        A symbol with no trade in those 24 h is *unanchored*: where its trades since start
        begin is learnt from the ticker after the next reconnect."""
        spans = await self._tickers()
        if spans is None:
            log.warning("no 24hr ticker at start: sequences start at their first frame")
            return
        for symbol in self.symbols:
            key, span = f"{symbol}@trade", spans.get(symbol)
            if self.sequencer.highest(key) is not None:
                continue
            if span and span.last_id >= 0:
                self.sequencer.observe(key, span.last_id)
            else:
                self._unanchored.add(symbol)

    async def _catch_up_traded(self, symbols: list[str]) -> None:
        spans = await self._tickers()
        if spans is None:  # fall back to asking each symbol seen so far
            spans = {symbol: IdSpan(-1, -1) for symbol in symbols}
        for symbol in symbols:
            span = spans.get(symbol)
            if span is None:
                continue
            if symbol in self._unanchored and span.first_id >= 0:
                self._anchor(symbol, span)
            else:
                self._probe(symbol, span.last_id)

    def _anchor(self, symbol: str, span: IdSpan) -> None:
        """An unanchored symbol's trades since start begin at the ticker's firstId: fetch
        them all if the websocket delivered none, else the ids below its first frame (which
        an outage took before the sequencer ever saw the symbol)."""
        self._unanchored.discard(symbol)
        key = f"{symbol}@trade"
        first_seen = self.sequencer.first_seen(key)
        if first_seen is None:  # every trade since start came while away
            self.sequencer.observe(key, span.first_id - 1)  # the sequence starts there
            self._spawn_backfill(symbol, span.first_id, span.last_id)
        elif span.first_id < first_seen:
            gap = self.sequencer.reopen(key, span.first_id, first_seen - 1)
            self._on_gap(gap)

    def _count_replacement(self, reason: str) -> None:
        self.stats.reconnects[reason] += 1

    async def _settled(
        self, gap: Gap, delivered: int, unserved: list[tuple[int, int]], kind: str
    ) -> bool:
        """Record the gap as filled, or unfillable for the ids REST proved it will never serve,
        once no id of it may still come from REST; False while some may (REST lagging)."""
        missing = self.sequencer.missing_ids(gap)
        never: set[int] = set()
        if missing is None:  # too big to track id by id: by the counts (of distinct ranges:
            # every attempt notes the ranges it passes over again)
            lost = sum(min(last, gap.last_id) - max(first, gap.first_id) + 1
                       for first, last in set(unserved))  # fmt: skip
            if delivered + lost < gap.size:
                return False
        else:
            never = {i for first, last in unserved for i in range(first, last + 1) if i in missing}
            if missing - never:
                return False
            lost = len(never)
        if lost:
            await self._record_unfillable(gap, never, lost, kind)
        else:
            await self.gap_log.record(gap, "filled")
        return True

    async def _record_unfillable(
        self, gap: Gap, ids: set[int] | None, unserved: int, kind: str, reason: str | None = None
    ) -> None:
        """`unserved` ids of the gap REST will never serve (`ids`; None: all of them): settled
        in the sequencer when it tracks the gap id by id, counted, recorded with the reason."""
        if gap.size <= self.sequencer.max_open_gap_ids:
            whole = set(range(gap.first_id, gap.last_id + 1))
            self.sequencer.settle(gap.symbol, whole if ids is None else ids)
        self.stats.unserved += unserved
        reason = reason or self.api.unserved_reason(kind)
        log.warning("gap in %s: %d ids REST will not serve (%s)", gap.symbol, unserved, reason)
        await self.gap_log.record(gap, "unfillable", unserved, reason)

    def _spawn_backfill(
        self, symbol: str, first_id: int, last_id: int, gap: Gap | None = None,
        kind: str = "trade",
    ) -> None:  # fmt: skip
        if self.backfiller:
            self._track(self._backfill(symbol, first_id, last_id, gap, kind))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run in the background; stop() waits for it (backfills and gap records)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._probes.discard)
        return task

    async def _backfill(
        self, symbol: str, first_id: int, last_id: int, gap: Gap | None, kind: str = "trade"
    ) -> None:
        passed_over = self._unserved.setdefault(f"{symbol}@{kind}", set())
        noted: list[tuple[int, int]] = []

        def note(first: int, last: int) -> None:
            passed_over.add((first, last))
            noted.append((first, last))

        try:
            await self._backfill_attempts(symbol, first_id, last_id, gap, kind, note, noted)
        finally:  # a range no gap matched while its rows were delivered never will be
            passed_over.difference_update(noted)

    async def _backfill_attempts(
        self, symbol: str, first_id: int, last_id: int, gap: Gap | None, kind: str,
        note: Callable[[int, int], None], unserved: list[tuple[int, int]],
    ) -> None:  # fmt: skip
        """Up to BACKFILL_ATTEMPTS fetches of the range; `note` collects in `unserved` the
        ranges REST passes over."""
        assert self.backfiller is not None
        if gap:
            await self.gap_log.record(gap, "open")
        backoff = Backoff(base_s=0.5, cap_s=self.settings.backfill_retry_cap_s)
        for _ in range(BACKFILL_ATTEMPTS):
            try:
                delivered = await self.backfiller.fetch(
                    symbol, first_id, last_id, self._deliver_backfilled, kind, note
                )
            except RateLimitedError:
                continue  # the shared REST budget now holds every task for the server's wait
            except StoppedError:
                self.stats.backfills_interrupted += 1  # the gap stays open in the resume points
                return
            except (OSError, ValueError) as error:
                log.warning("backfill %s %d..%d failed: %r", symbol, first_id, last_id, error)
                if await self._stopped_within(backoff.next_delay()):
                    self.stats.backfills_interrupted += 1
                    return
                continue
            if gap is None:  # a catch-up: what it passed over opened gaps of its own
                return
            if await self._settled(gap, delivered, unserved, kind):
                return
            log.warning("backfill %s %d..%d: REST lacks some of the ids", symbol, first_id, last_id)
            if await self._stopped_within(backoff.next_delay()):
                self.stats.backfills_interrupted += 1
                return
        self.stats.backfill_failures += 1
        log.error("backfill %s %d..%d gave up; the gap stays recorded", symbol, first_id, last_id)
        if gap:
            await self.gap_log.record(gap, "unfilled")

    async def _stopped_within(self, seconds: float) -> bool:
        """Sleep `seconds`, or less if the connector stops meanwhile; True if it stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()


class ResumePoint(NamedTuple):
    highest: int  # the highest trade id read
    open: list[tuple[int, int]]  # id ranges still missing below it
    saved_at_ms: int | None  # when (files written before it was kept: unknown)


def read_resume_points(path: Path) -> dict[str, ResumePoint]:
    """symbol -> its resume point from a resume file; files written before open ranges were
    kept hold just the highest id."""
    points: dict[str, ResumePoint] = {}
    for symbol, value in json.loads(path.read_text()).items():
        if isinstance(value, int):
            points[symbol] = ResumePoint(value, [], None)
        else:
            ranges = [(int(first), int(last)) for first, last in value.get("open", [])]
            saved = value.get("saved_at_ms")
            points[symbol] = ResumePoint(int(value["highest"]), ranges, saved and int(saved))
    return points
