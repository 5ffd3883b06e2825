"""A Binance-compatible market-data server that replays a recording, with faults on demand.

One server is one market's host (spot, USD-M or COIN-M: k2_connector.markets), with its paths:
  [route]/stream?streams=btcusdt@trade/...      combined streams ({"stream", "data"} envelopes)
  [route]/ws/btcusdt@trade                      one raw stream
  <prefix>/historicalTrades?symbol=&fromId=&limit=  REST backfill from the same recording
  <prefix>/aggTrades?symbol=&fromId=&limit=     the same for aggTrade frames (aggregate ids)
  <prefix>/ticker/24hr                          every symbol's lastId (and firstId, count) so far
  <prefix>/exchangeInfo                         every symbol of the recording, TRADING unless
                                                set otherwise (`statuses`: listings, delistings)
where <prefix> is /api/v3, /fapi/v1 or /dapi/v1, and [route] is empty except on USD-M, whose
`trade` streams are served under /public and `aggTrade` under /market: a stream asked for on
another route delivers nothing, silently, as on Binance.
  /k2/status, /k2/play-when-connected?clients=N  control of a server in another process
                                                (k2_devtools.replay_process); not Binance's

Like the real exchange, the recording plays on the server's clock once the first client
connects: a frame published while a client is disconnected or stalled is missed by it, and the
client must notice the gap in trade ids and backfill it over REST. Pings are sent every
`ping_interval_s` and a client that does not answer within `ping_timeout_s` is closed
(by default the market's: 20 s and 60 s on spot, 3 and 10 minutes on futures). Connections
are closed after `max_connection_s` (Binance: 24 h).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from k2.binance.frames import parse_frames
from k2.binance.recording import RecordedFrame
from k2_connector.markets import MARKET_APIS, MarketApi

TRADE_INDEX_COLUMNS = ("frame_index", "symbol", "source_id", "kind")  # what it needs of trades
_REST_KINDS = {"historicalTrades": "trade", "aggTrades": "aggTrade"}
_ENVELOPE = b'{"stream":"'
_DATA = b'","data":'
MAX_HISTORICAL_LIMIT = 1000


@dataclass(frozen=True)
class Faults:
    """Faults injected every N frames sent by the server, over all connections (0 = off), so
    that each kind of fault keeps recurring whatever the others do to connections."""

    drop_every: int = 0  # close the connection abruptly
    stall_every: int = 0  # stay connected but send nothing for stall_s
    stall_s: float = 0.0
    shutdown_every: int = 0  # send serverShutdown, close after shutdown_grace_s
    shutdown_grace_s: float = 0.5
    duplicate_every: int = 0  # send the previous frame again
    malformed_every: int = 0  # send a frame that is not valid JSON
    gap_every: int = 0  # (global) never send gap_size trades on the websocket: REST has them
    gap_size: int = 1
    gap_lost: bool = False  # withheld trades are missing from REST too (history pruned)
    refuse_first: int = 0  # refuse the first N connection attempts with HTTP refuse_status
    refuse_status: int = 429
    retry_after_s: int = 1
    bad_reply_after_shutdown: bool = False  # garble the handshake of the next connection
    rest_refuse_first: int = 0  # answer the first N REST requests with rest_refuse_status
    rest_refuse_status: int = 418  # 418: an IP ban; 429: too many requests
    rest_retry_after_s: int = 120


@dataclass(slots=True)
class _Frame:
    receive_ns: int
    stream: str | None  # None: a frame without envelope (sent to every combined client)
    raw: bytes  # as recorded
    trade: tuple[str, int, str] | None  # (symbol, id, kind) for trade and aggTrade frames
    data_at: int  # where the envelope's data object starts in `raw` (0: no envelope)

    @property
    def payload(self) -> bytes:
        """The data object of an envelope (what a raw /ws/ stream sends), or the whole frame;
        cut on demand: nearly every client is a combined-stream one."""
        return self.raw[self.data_at : -1] if self.data_at else self.raw


@dataclass(eq=False)  # identity-hashed: kept in a set of live clients
class _Client:
    connection: ServerConnection
    streams: set[str]
    combined: bool
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    sent: int = 0
    stalled_until: float = 0.0


@dataclass
class ServerStats:
    connections: int = 0
    refused: int = 0
    frames_published: int = 0
    frames_sent: int = 0
    dropped_connections: int = 0
    stalls: int = 0
    shutdowns: int = 0
    duplicates_sent: int = 0
    malformed_sent: int = 0
    gap_trades_withheld: int = 0
    rest_requests: int = 0
    rest_refused: int = 0
    rest_request_times: list[float] = field(default_factory=list)  # monotonic, every request
    bad_replies: int = 0
    binary_frames: int = 0  # frames that are not UTF-8, sent as binary websocket messages
    exchange_info_requests: int = 0
    ticker_requests: int = 0


class ReplayServer:
    def __init__(
        self,
        frames: Sequence[RecordedFrame],
        speed: float = 0.0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval_s: float | None = None,
        ping_timeout_s: float | None = None,
        max_connection_s: float = 24 * 3600,
        linger: bool = False,
        statuses: dict[str, str] | None = None,
        trades: pa.Table | None = None,
        market: str = "spot",
    ) -> None:
        """speed: 1.0 = recorded pace, 10.0 = ten times faster, 0 = as fast as possible.
        linger: once the recording is played, keep connections open and silent (a market
        gone quiet) until the server stops, instead of closing them.
        statuses: exchangeInfo status of symbols (default: every recorded symbol TRADING);
        a symbol absent from exchangeInfo is not listed (yet, or any more), but its trades
        still happen on the server's clock.
        trades: the frames' trades as k2.binance.frames.parse_frames reads them, when the
        caller has parsed them already."""
        self.api = MARKET_APIS[market]
        if trades is None:
            trades = parse_frames([f.frame for f in frames], [market] * len(frames)).trades
        self._frames = _index(frames, trades)
        # (kind, symbol) -> REST rows, built on the first REST request
        self._rest_rows: dict[tuple[str, str], list[dict[str, Any]]] | None = None
        self.statuses = (
            dict(statuses) if statuses is not None
            else dict.fromkeys(sorted(set(trades["symbol"].to_pylist())), "TRADING")
        )  # fmt: skip
        self.speed, self.faults = speed, faults or Faults()
        self._host, self._port = host, port
        self._ping = (ping_interval_s or self.api.server_ping_interval_s,
                      ping_timeout_s or self.api.server_ping_timeout_s)  # fmt: skip
        self._max_connection_s, self._linger = max_connection_s, linger
        self._clients: set[_Client] = set()
        self._published_up_to: dict[tuple[str, str], int] = {}  # (symbol, kind) -> highest id
        # symbol -> (first, last) trade id published: the 24-hour ticker's span, from trade
        # frames' ids or aggTrade frames' first and last trade ids (f, l)
        self._ticker_span: dict[str, tuple[int, int]] = {}
        self._withheld: set[tuple[str, int]] = set()  # (kind, id) the gap fault kept back
        self._garble_next = False  # set by a serverShutdown when bad_reply_after_shutdown
        self._first_client = asyncio.Event()
        self._clients_before_play = 1
        self.finished = asyncio.Event()
        self.stats = ServerStats()
        self._server: Server | None = None
        self._publisher: asyncio.Task[None] | None = None

    def play_when_connected(self, clients: int) -> None:
        """Start the recording once `clients` connections have opened (default: the first),
        so a connector that splits its streams over several connections misses no opening
        trade of any of them (which no client could know it missed)."""
        self._clients_before_play = max(1, clients)
        if self.stats.connections >= self._clients_before_play:
            self._first_client.set()

    @property
    def url(self) -> str:
        """ws://host:port, to use as the connector's base URL (also serves REST over http)."""
        assert self._server is not None, "server not started"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def rest_url(self) -> str:
        return self.url.replace("ws://", "http://", 1)

    async def __aenter__(self) -> ReplayServer:
        self._server = await serve(
            self._handle, self._host, self._port,
            process_request=self._process_request,
            ping_interval=self._ping[0], ping_timeout=self._ping[1],
        )  # fmt: skip
        self._publisher = asyncio.create_task(self._publish())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._publisher:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        for client in list(self._clients):
            client.queue.put_nowait(None)  # wake handlers blocked on an empty queue
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    # --- HTTP: refusals and the REST endpoint ------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path)
        if path.path.startswith("/k2/"):
            return self._control(path.path, parse_qs(path.query))
        rest_kind = next(
            (kind for name, kind in _REST_KINDS.items() if path.path == self.api.rest_path(name)),
            None,
        )
        if rest_kind is not None:
            self.stats.rest_requests += 1
            self.stats.rest_request_times.append(time.monotonic())
            if self.stats.rest_refused < self.faults.rest_refuse_first:
                self.stats.rest_refused += 1
                headers = Headers({"Retry-After": str(self.faults.rest_retry_after_s)})
                return Response(self.faults.rest_refuse_status, "Refused", headers, b"")
            return self._rest_page(parse_qs(path.query), rest_kind)
        if path.path == self.api.rest_path("ticker/24hr"):
            self.stats.ticker_requests += 1
            return _json_response(200, self._tickers())
        if path.path == self.api.rest_path("exchangeInfo"):
            self.stats.exchange_info_requests += 1
            return _json_response(200, _exchange_info(self.statuses, self.api))
        if self._garble_next:
            self._garble_next = False
            return self._garbled(connection)
        if self.stats.refused < self.faults.refuse_first:
            self.stats.refused += 1
            headers = Headers({"Retry-After": str(self.faults.retry_after_s)})
            return Response(self.faults.refuse_status, "Too Many Requests", headers, b"")
        if self._route(path.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown path\n")
        return None

    def _control(self, path: str, query: dict[str, list[str]]) -> Response:
        if path == "/k2/play-when-connected":
            self.play_when_connected(int(query.get("clients", ["1"])[0]))
        elif path != "/k2/status":
            return _json_response(404, {"error": f"unknown control path {path}"})
        status = {"finished": self.finished.is_set(), "connections": self.stats.connections,
                  "frames_published": self.stats.frames_published}  # fmt: skip
        return _json_response(200, status)

    def _garbled(self, connection: ServerConnection) -> Response:
        """A reply that is not HTTP at all (the client raises InvalidMessage), as a broken
        load balancer might send; the connection is then closed."""
        self.stats.bad_replies += 1
        connection.transport.write(b"HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n")
        connection.transport.close()
        return connection.respond(HTTPStatus.BAD_GATEWAY, "garbled\n")

    def _rest_page(self, query: dict[str, list[str]], kind: str) -> Response:
        try:
            symbol = query["symbol"][0].upper()
            from_id = int(query.get("fromId", ["0"])[0])
            limit = min(int(query.get("limit", ["500"])[0]), MAX_HISTORICAL_LIMIT)
        except (KeyError, ValueError):
            return _json_response(400, {"code": -1100, "msg": "Illegal characters in parameter."})
        newest = self._published_up_to.get((symbol, kind), -1)  # only what happened so far
        if self._rest_rows is None:
            self._rest_rows = _rest_rows(self._frames)
        rows = self._rest_rows.get((kind, symbol), [])
        lost = self._withheld if self.faults.gap_lost else set()
        key = "id" if kind == "trade" else "a"
        selected = [
            row for row in rows if from_id <= row[key] <= newest and (kind, row[key]) not in lost
        ]
        selected = selected[:limit]
        return _json_response(200, selected)

    def _tickers(self) -> list[dict[str, Any]]:
        """The trade-id fields of Binance's 24-hour ticker, for the trades published so far
        (the recording stands for the last 24 hours)."""
        return [
            {"symbol": symbol, "firstId": first, "lastId": last, "count": last - first + 1}
            for symbol, (first, last) in sorted(self._ticker_span.items())
        ]

    def _widen_ticker_span(self, symbol: str, frame: _Frame, trade_id: int, kind: str) -> None:
        first, last = trade_id, trade_id
        if kind == "aggTrade":  # an aggregate id is not a trade id: its f..l are
            data = json.loads(frame.payload)
            first, last = data["f"], data["l"]
        known = self._ticker_span.get(symbol)
        self._ticker_span[symbol] = (
            (first, last) if known is None else (known[0], max(known[1], last))
        )

    # --- websocket ---------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        path = urlsplit(connection.request.path)
        route = self._route(path.path) or ""
        combined = path.path == f"{route}/stream"
        if combined:
            streams = set(parse_qs(path.query).get("streams", [""])[0].split("/"))
        else:
            streams = {path.path.removeprefix(f"{route}/ws/")}
        served = {stream for stream in streams if self._serves(stream, route)}
        client = _Client(connection, served, combined)
        if self.finished.is_set() and not self._linger:
            client.queue.put_nowait(None)  # the recording is over: nothing more will come
        self.stats.connections += 1
        self._clients.add(client)
        if self.stats.connections >= self._clients_before_play:
            self._first_client.set()
        try:
            await asyncio.wait_for(self._send_loop(client), timeout=self._max_connection_s)
        except (TimeoutError, ConnectionClosed):
            pass
        finally:
            self._clients.discard(client)
            await connection.close()

    def _route(self, path: str) -> str | None:
        """The route of a websocket path (`/public/stream` -> `/public`); None if the path is
        no stream path of this market."""
        for route in {"", *self.api.routes.values()}:
            if path == f"{route}/stream" or path.startswith(f"{route}/ws/"):
                return route
        return None

    def _serves(self, stream: str, route: str) -> bool:
        """Whether `stream` is delivered on `route` (USD-M: the bare root acts as /public)."""
        kind_route = self.api.route(stream.partition("@")[2])
        return kind_route == route or (route == "" and kind_route == self.api.route("trade"))

    async def _send_loop(self, client: _Client) -> None:
        previous: bytes | None = None
        while (message := await client.queue.get()) is not None:
            if time.monotonic() < client.stalled_until:
                continue  # stalled: connected, but this client misses the frame
            await client.connection.send(_websocket_message(message, self.stats))
            client.sent += 1
            self.stats.frames_sent += 1
            if await self._inject(client, previous):
                return
            previous = message
        await client.connection.close()  # the recording is over

    async def _inject(self, client: _Client, previous: bytes | None) -> bool:
        """Apply faults after a frame; True when the connection must end."""
        faults, sent = self.faults, self.stats.frames_sent
        if faults.duplicate_every and sent % faults.duplicate_every == 0 and previous:
            await client.connection.send(previous.decode())
            self.stats.duplicates_sent += 1
        if faults.malformed_every and sent % faults.malformed_every == 0:
            await client.connection.send('{"stream":"broken@trade","data":{"e":"trade",')
            self.stats.malformed_sent += 1
        if faults.stall_every and sent % faults.stall_every == 0:
            client.stalled_until = time.monotonic() + faults.stall_s
            self.stats.stalls += 1
        if faults.shutdown_every and sent % faults.shutdown_every == 0:
            await client.connection.send(self._shutdown_message(client))
            self.stats.shutdowns += 1
            self._garble_next = faults.bad_reply_after_shutdown
            await asyncio.sleep(faults.shutdown_grace_s)
            return True
        if faults.drop_every and sent % faults.drop_every == 0:
            self.stats.dropped_connections += 1
            client.connection.transport.abort()  # abrupt, like a network failure
            return True
        return False

    @staticmethod
    def _shutdown_message(client: _Client) -> str:
        event = json.dumps({"e": "serverShutdown", "E": int(time.time() * 1000)})
        if client.combined:
            return json.dumps({"stream": next(iter(client.streams)), "data": json.loads(event)})
        return event

    # --- the exchange's clock ----------------------------------------------------------------

    async def _publish(self) -> None:
        await self._first_client.wait()
        started, first_ns = time.monotonic(), self._frames[0].receive_ns if self._frames else 0
        trades_seen = 0
        for frame in self._frames:
            if self.speed > 0:
                due = started + (frame.receive_ns - first_ns) / 1e9 / self.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            elif self.stats.frames_published % 200 == 0:
                await asyncio.sleep(0)  # let clients drain at max speed
            self.stats.frames_published += 1
            if frame.trade:
                trades_seen += 1
                symbol, trade_id, kind = frame.trade
                self._published_up_to[symbol, kind] = trade_id
                self._widen_ticker_span(symbol, frame, trade_id, kind)
                faults = self.faults
                # the last gap_size trades of every gap_every: never the opening trades, which
                # no client could know it missed
                position = trades_seen % faults.gap_every if faults.gap_every else 0
                if faults.gap_every and position >= faults.gap_every - faults.gap_size:
                    self.stats.gap_trades_withheld += 1
                    self._withheld.add((kind, trade_id))
                    continue
            for client in list(self._clients):
                message = _message_for(client, frame)
                if message is not None:
                    client.queue.put_nowait(message)
        if not self._linger:
            for client in list(self._clients):
                client.queue.put_nowait(None)
        self.finished.set()


def _websocket_message(message: bytes, stats: ServerStats) -> str | bytes:
    """Binance sends text messages; a recorded frame that is not valid UTF-8 cannot be one, so
    it goes as a binary message (the connector reads both as bytes) instead of ending the
    client's handler."""
    try:
        return message.decode()
    except UnicodeDecodeError:
        stats.binary_frames += 1
        return message


def _message_for(client: _Client, frame: _Frame) -> bytes | None:
    if frame.stream is None:
        return frame.raw if client.combined else None
    if frame.stream not in client.streams:
        return None
    return frame.raw if client.combined else frame.payload


def _index(frames: Sequence[RecordedFrame], parsed: pa.Table) -> list[_Frame]:
    trades = dict(
        zip(
            parsed["frame_index"].to_pylist(),
            zip(
                parsed["symbol"].to_pylist(),
                parsed["source_id"].to_pylist(),
                parsed["kind"].to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )
    indexed = []
    for position, recorded in enumerate(frames):
        stream, data_at = _envelope(recorded.frame)
        indexed.append(
            _Frame(recorded.receive_ns, stream, recorded.frame, trades.get(position), data_at)
        )
    return indexed


def _envelope(frame: bytes) -> tuple[str | None, int]:
    """(stream name, where the data starts) of a `{"stream":..,"data":..}` frame; (None, 0)
    for any other."""
    if frame.startswith(_ENVELOPE) and frame.endswith(b"}"):
        end = frame.find(_DATA, len(_ENVELOPE))
        if end > 0 and b'"' not in frame[len(_ENVELOPE) : end]:
            return frame[len(_ENVELOPE) : end].decode(), end + len(_DATA)
    return None, 0


def _rest_rows(frames: list[_Frame]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """REST rows per (kind, symbol), sorted by id: historicalTrades rows of trade frames,
    aggTrades rows of aggTrade frames, in each endpoint's shape. Futures REST serves market
    trades only, as Binance's does: a trade whose `X` is not MARKET has no row."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for frame in frames:
        if not frame.trade:
            continue
        symbol, _, kind = frame.trade
        data = json.loads(frame.payload)
        if data.get("X", "MARKET") != "MARKET":
            continue
        if kind == "trade":
            row = {
                "id": data["t"], "price": data["p"], "qty": data["q"],
                "quoteQty": f"{float(data['p']) * float(data['q']):.8f}",
                "time": data["T"], "isBuyerMaker": data["m"],
            }  # fmt: skip
            if "M" in data:  # spot only: futures rows have no isBestMatch
                row["isBestMatch"] = data["M"]
        else:
            row = {
                key: data[key] for key in ("a", "p", "q", "f", "l", "T", "m", "M") if key in data
            }
        rows.setdefault((kind, symbol), []).append(row)
    for group in rows.values():
        group.sort(key=lambda row: row.get("id", row.get("a", 0)))
    return rows


def _exchange_info(statuses: dict[str, str], api: MarketApi) -> dict[str, Any]:
    """An exchangeInfo body of `api`'s market with the fields a market-data client reads."""
    symbols = [
        {"symbol": symbol, api.status_field: status} for symbol, status in sorted(statuses.items())
    ]
    return {
        "timezone": "UTC", "serverTime": int(time.time() * 1000), "exchangeFilters": [],
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                        "intervalNum": 1, "limit": api.weight_per_minute}],
        "symbols": symbols,
    }  # fmt: skip


def _json_response(status: int, body: object) -> Response:
    payload = json.dumps(body).encode()
    headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(payload))})
    return Response(status, HTTPStatus(status).phrase, headers, payload)
