"""Console entry point: `k2-connector`.

Every flag of k2-connector can also come from the environment (K2_SYMBOLS, K2_STREAM_NAME,
K2_WS_URL, K2_REST_URL, K2_JOURNAL_DIR, K2_HEALTH_PORT, K2_RECORDS_BUCKET, K2_DRAIN_DEADLINE_S,
K2_LISTING_REFRESH_S, K2_MARKET, AWS_ENDPOINT_URL), which is how the container is configured.
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
from k2.adapters.kinesis.writer import KinesisWriter
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
    args = _connector_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    every_symbol = symbols == (ALL_SYMBOLS,)
    api = MARKET_APIS[args.market]
    settings = ConnectorSettings(
        symbols=() if every_symbol else symbols,
        all_symbols=every_symbol,
        listing_refresh_s=args.listing_refresh_s,
        market=args.market,
        ws_base_url=args.ws_url or api.ws_url,
        rest_base_url=None if args.no_backfill else args.rest_url or api.rest_url,
        connection=ConnectionSettings(
            no_data_timeout_s=args.no_data_timeout_s, rotate_after_s=args.rotate_after_s
        ),
        journal_dir=Path(args.journal_dir),
        kinds=tuple(k.strip() for k in args.streams.split(",") if k.strip()),
        drain_deadline_s=args.drain_deadline_s,
        journal_wait_s=JOURNAL_WAIT_S,
    )
    kinesis = aws.client("kinesis", args.endpoint_url, bounded=True)
    writer = KinesisWriter(kinesis, args.stream_name, market=args.market)
    s3 = aws.client("s3", args.endpoint_url, bounded=True)
    gap_log = GapLog(settings.journal_dir, s3, args.records_bucket, market=args.market)
    dead_letters = ConnectorDeadLetters(settings.journal_dir, s3, args.records_bucket)
    connector = Connector(settings, writer.put_frames, gap_log, dead_letters)
    drained = asyncio.run(_serve(connector, args.health_port))
    if not drained:
        logging.error("stopped with frames still in the journal; a restart delivers them first")
    return 0 if drained else 1


async def _serve(connector: Connector, health_port: int) -> bool:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, connector.stop)
    async with health_server(connector, "0.0.0.0", health_port) as port:  # noqa: S104 - container
        streaming = ", ".join(connector.settings.symbols) or "every TRADING symbol"
        logging.info("health on :%d, streaming %s", port, streaming)
        return await connector.run()


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
        choices=MARKETS,
        default=env("K2_MARKET", DEFAULT_MARKET),
        help="spot, usdm (USD-M futures) or coinm (COIN-M futures): one connector per market",
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
