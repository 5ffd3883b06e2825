"""Console entry point: `k2-connector`.

Every flag of k2-connector can also come from the environment (K2_SYMBOLS, K2_STREAM_NAME,
K2_WS_URL, K2_REST_URL, K2_JOURNAL_DIR, K2_HEALTH_PORT, K2_RECORDS_BUCKET, K2_DRAIN_DEADLINE_S,
K2_LISTING_REFRESH_S, K2_MARKET, AWS_ENDPOINT_URL), which is how the container is configured.

One process captures one market or several (`--market spot,usdm,coinm`): one Connector per
market - its own sequencer, REST budget (Binance counts weight per API), journal, resume points
and gap records - in one event loop, behind one health endpoint that is healthy when every
market is. Values that differ per market are written `market=value;market=value`
(`--symbols "spot=BTCUSDT,ETHUSDT;coinm=BTCUSD_PERP"`); a plain value applies to every market
(`--symbols ALL`). The first market keeps the journal directory itself, so a single-market
deployment's resume points carry over; each further market journals in a subdirectory named
after it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from k2.adapters import aws
from k2.adapters.kinesis.writer import KinesisWriter, puts_serialized_for
from k2.config import DEFAULT_STREAM_NAME
from k2.domain.instrument import DEFAULT_MARKET, MARKETS
from k2_connector.app import Connector, ConnectorSettings
from k2_connector.dead_letters import ConnectorDeadLetters
from k2_connector.gap_log import GapLog
from k2_connector.health import health_server
from k2_connector.markets import MARKET_APIS
from k2_connector.streams import BINANCE_DATA_WS_URL
from k2_connector.websocket import ConnectionSettings

# A replacement task may start while the task it replaces still drains (up to its 120 s stop
# timeout): wait that long for the journal before giving up.
JOURNAL_WAIT_S = 150.0
ALL_SYMBOLS = "ALL"  # --symbols ALL: every TRADING symbol, from exchangeInfo


def connector_main(argv: Sequence[str] | None = None) -> int:
    parser = _connector_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        markets = _markets(args.market)
        symbols = per_market(args.symbols, markets)
        ws_urls = per_market(args.ws_url, markets, several="--ws-url") if args.ws_url else {}
        rest_urls = (
            per_market(args.rest_url, markets, several="--rest-url") if args.rest_url else {}
        )
    except ValueError as error:
        parser.error(str(error))
    kinesis = aws.client("kinesis", args.endpoint_url, bounded=True)
    s3 = aws.client("s3", args.endpoint_url, bounded=True)
    connectors = []
    for index, market in enumerate(markets):
        journal = Path(args.journal_dir) / ("" if index == 0 else market)
        settings = _settings(args, market, symbols[market], journal, ws_urls.get(market),
                             rest_urls.get(market))  # fmt: skip
        writer = KinesisWriter(kinesis, args.stream_name, market=market,
                               put_guard=puts_serialized_for(args.endpoint_url))  # fmt: skip
        gap_log = GapLog(journal, s3, args.records_bucket, market=market)
        dead_letters = ConnectorDeadLetters(journal, s3, args.records_bucket)
        connectors.append(Connector(settings, writer.put_frames, gap_log, dead_letters))
    drained = asyncio.run(_serve(connectors, args.health_port))
    if not drained:
        logging.error("stopped with frames still in the journal; a restart delivers them first")
    return 0 if drained else 1


def _markets(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [market for market in chosen if market not in MARKETS]
    if unknown or not chosen:
        raise ValueError(f"--market: one or more of {', '.join(MARKETS)}, not {text!r}")
    return chosen


def per_market(text: str, markets: Sequence[str], several: str | None = None) -> dict[str, str]:
    """`m=value;m=value` -> per market; a plain value -> the same for every market (refused
    with `several` markets for a flag whose value must differ, such as a URL)."""
    if "=" not in text:
        if several and len(markets) > 1:
            raise ValueError(f"{several}: with several markets write market=URL;market=URL")
        return dict.fromkeys(markets, text)
    values = {}
    for part in filter(None, (piece.strip() for piece in text.split(";"))):
        market, _, value = part.partition("=")
        if market.strip() not in markets:
            raise ValueError(f"{market.strip()!r} is not one of the markets: {', '.join(markets)}")
        values[market.strip()] = value.strip()
    missing = [market for market in markets if market not in values and not several]
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in {text!r}")
    return values


def _settings(args: argparse.Namespace, market: str, symbol_text: str, journal: Path,
              ws_url: str | None, rest_url: str | None) -> ConnectorSettings:  # fmt: skip
    symbols = tuple(s.strip().upper() for s in symbol_text.split(",") if s.strip())
    every_symbol = symbols == (ALL_SYMBOLS,)
    api = MARKET_APIS[market]
    return ConnectorSettings(
        symbols=() if every_symbol else symbols,
        all_symbols=every_symbol,
        listing_refresh_s=args.listing_refresh_s,
        market=market,
        ws_base_url=ws_url or api.ws_url,
        rest_base_url=None if args.no_backfill else rest_url or api.rest_url,
        connection=ConnectionSettings(
            no_data_timeout_s=args.no_data_timeout_s, rotate_after_s=args.rotate_after_s
        ),
        journal_dir=journal,
        kinds=tuple(k.strip() for k in args.streams.split(",") if k.strip()),
        drain_deadline_s=args.drain_deadline_s,
        journal_wait_s=JOURNAL_WAIT_S,
        rest_weight_per_minute=args.rest_weight_per_minute,
        handles_sigterm=False,  # _serve stops every market's connector on SIGTERM
    )


async def _serve(connectors: Sequence[Connector], health_port: int) -> bool:
    """Run every market's connector until SIGINT/SIGTERM stops them all; True when every one
    drained."""
    loop = asyncio.get_running_loop()

    def stop_every_market() -> None:
        for connector in connectors:
            connector.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):  # one loop, one handler: every market stops
        loop.add_signal_handler(signum, stop_every_market)
    async with health_server(connectors, "0.0.0.0", health_port) as port:  # noqa: S104 - container
        for connector in connectors:
            streaming = ", ".join(connector.settings.symbols) or "every TRADING symbol"
            logging.info("health on :%d, %s: streaming %s", port, connector.settings.market,
                         streaming)  # fmt: skip
        return all(await asyncio.gather(*(connector.run() for connector in connectors)))


def _connector_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="k2-connector", description="Binance trades -> Kinesis")
    parser.add_argument(
        "--symbols",
        default=env("K2_SYMBOLS", "BTCUSDT,ETHUSDT"),
        help=f"comma-separated, or {ALL_SYMBOLS}: every TRADING symbol of exchangeInfo, "
        "following listings and delistings",
    )
    parser.add_argument(
        "--listing-refresh-s",
        type=float,
        default=float(env("K2_LISTING_REFRESH_S", str(ConnectorSettings.listing_refresh_s))),
        help=f"with --symbols {ALL_SYMBOLS}: how often exchangeInfo is read again",
    )
    parser.add_argument("--stream-name", default=env("K2_STREAM_NAME", DEFAULT_STREAM_NAME))
    parser.add_argument("--endpoint-url", default=env("AWS_ENDPOINT_URL"))
    parser.add_argument(
        "--market",
        default=env("K2_MARKET", DEFAULT_MARKET),
        help="spot, usdm (USD-M futures), coinm (COIN-M futures), or several comma-separated:"
        " one connector per market, in this process",
    )
    parser.add_argument(
        "--ws-url",
        default=env("K2_WS_URL"),
        help="default: the market's Binance URL (k2_connector.markets); for spot also "
        f"{BINANCE_DATA_WS_URL}, or a replay server",
    )
    parser.add_argument(
        "--rest-url", default=env("K2_REST_URL"), help="default: the market's Binance REST URL"
    )
    parser.add_argument("--no-backfill", action="store_true", help="record gaps, do not fill them")
    parser.add_argument(
        "--rest-weight-per-minute",
        type=int,
        default=int(env("K2_REST_WEIGHT_PER_MINUTE", "0")) or None,
        help="each market's REST budget (default: half the market's per-IP limit); lower it "
        "when other clients of the same market share the IP",
    )
    parser.add_argument("--streams", default=env("K2_STREAMS", "trade"), help="trade,aggTrade")
    parser.add_argument(
        "--records-bucket",
        default=env("K2_RECORDS_BUCKET"),
        help="S3 bucket for gap records and dead letters, under connector/ (both are also "
        "kept in the journal directory)",
    )
    parser.add_argument(
        "--drain-deadline-s",
        type=float,
        default=float(env("K2_DRAIN_DEADLINE_S", str(ConnectorSettings.drain_deadline_s))),
        help="on SIGTERM, deliver for at most this long, then journal the rest",
    )
    parser.add_argument("--journal-dir", default=env("K2_JOURNAL_DIR", "/var/lib/k2-connector"))
    parser.add_argument("--health-port", type=int, default=int(env("K2_HEALTH_PORT", "8080")))
    parser.add_argument("--no-data-timeout-s", type=float, default=10.0)
    parser.add_argument("--rotate-after-s", type=float, default=23.5 * 3600)
    parser.add_argument("--log-level", default=env("K2_LOG_LEVEL", "INFO"))
    return parser  # fmt: skip
