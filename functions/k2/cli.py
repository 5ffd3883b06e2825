"""`k2`: the command-line entry point. Human-readable by default, `--json` for scripts."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from k2.bench_cli import add_bench_parser
from k2.config import MappingSettings
from k2.lake_cli import add_lake_parser, format_symbols
from k2.local.pipeline import RunOptions, RunReport, run
from k2.local.stack_up import UpOptions, up
from k2.query_cli import add_query_parser
from k2.soak_cli import add_soak_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return int(args.command(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k2", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run",
        help="the whole pipeline end to end on an embedded AWS endpoint, then reconcile",
        description="Frames (generated, or --replay recordings) -> Kinesis -> normalize -> "
        "Parquet on S3 + Glue, then counts per symbol against the source. Exits 1 if any "
        "trade was lost or duplicated.",
    )
    run_parser.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        default=(),
        metavar="FILE",
        help="recordings '<recv_ns> <frame>' per line (gzip or plain)",
    )
    run_parser.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT,BNBUSDT",
        help="symbols to generate when not replaying (comma-separated)",
    )
    run_parser.add_argument("--trades-per-symbol", type=int, default=5_000)
    run_parser.add_argument("--seed", type=int, default=7)
    run_parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="use this AWS-compatible endpoint (default: $AWS_ENDPOINT_URL) instead of an "
        "embedded moto server; resources get a per-run suffix there",
    )
    run_parser.add_argument("--shards", type=int, default=2)
    run_parser.add_argument(
        "--batch-size",
        type=int,
        default=RunOptions.mapping.batch_size,
        help="Kinesis records per handler invocation (template default)",
    )
    run_parser.add_argument(
        "--batching-window",
        type=float,
        default=RunOptions.mapping.batching_window_s,
        metavar="SECONDS",
        help="MaximumBatchingWindowInSeconds (template default: "
        f"{MappingSettings().batching_window_s:g})",
    )
    run_parser.add_argument(
        "--live", action="store_true",
        help="connect the connector to Binance itself (needs internet); reconcile what it sent",
    )  # fmt: skip
    run_parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS",
        help="stop streaming after this long (live: default until Ctrl-C)",
    )  # fmt: skip
    run_parser.add_argument("--ws-url", default=RunOptions.ws_url, help="with --live")
    run_parser.add_argument("--rest-url", default=RunOptions.rest_url, help="with --live")
    run_parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    run_parser.set_defaults(command=_run)  # fmt: skip

    _add_local_parser(commands)
    add_query_parser(commands)
    add_lake_parser(commands)
    add_soak_parser(commands)
    add_bench_parser(commands)

    record_parser = commands.add_parser(
        "record",
        help="record live Binance frames to replayable files",
        description="Write '<receive_ns> <frame>' lines, gzip, one file per UTC day "
        "(<out>-YYYY-MM-DD.gz). Replay them with `k2 run --replay` or k2-replay-server.",
    )
    record_parser.add_argument(
        "--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt"
    )
    record_parser.add_argument("--out", required=True, type=Path, help="file prefix")
    record_parser.add_argument(
        "--duration", type=float, default=None, help="seconds (default: until Ctrl-C)"
    )
    record_parser.add_argument(
        "--streams", default="trade", help="stream kinds, e.g. trade,aggTrade,bookTicker"
    )
    record_parser.add_argument("--ws-url", default="wss://stream.binance.com:9443")
    record_parser.set_defaults(command=_record)  # fmt: skip
    return parser


def _add_local_parser(commands: argparse._SubParsersAction) -> None:
    local = commands.add_parser("local", help="the local stack: `k2 local up`")
    actions = local.add_subparsers(required=True, metavar="ACTION")
    up_parser = actions.add_parser(
        "up",
        help="run the stack in the foreground, query function on localhost, until Ctrl-C",
        description="Frames -> connector -> Kinesis -> normalize -> lake, continuously, with "
        "the query function served like a function URL on 127.0.0.1. Ctrl-C or SIGTERM "
        "stops it cleanly: the connector flushes and the stream is drained first.",
    )
    up_parser.add_argument("--replay", nargs="+", type=Path, default=(), metavar="FILE")
    up_parser.add_argument(
        "--live", action="store_true", help="connect to Binance itself (needs internet)"
    )
    up_parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    up_parser.add_argument("--trades-per-symbol", type=int, default=UpOptions.trades_per_symbol)
    up_parser.add_argument(
        "--speed", type=float, default=1.0, help="replay pace: 1 = as recorded, 0 = max"
    )
    up_parser.add_argument("--port", type=int, default=UpOptions.port, help="0: any free port")
    up_parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL") or None)
    up_parser.add_argument(
        "--commit-every", type=float, default=UpOptions.commit_every_s, metavar="SECONDS",
        help="how often the Iceberg committer runs",
    )  # fmt: skip
    up_parser.set_defaults(command=_local_up)


def _local_up(args: argparse.Namespace) -> int:
    options = UpOptions(
        replay=args.replay,
        live=args.live,
        symbols=[symbol.upper() for symbol in comma_list(args.symbols)],
        trades_per_symbol=args.trades_per_symbol,
        speed=args.speed,
        port=args.port,
        endpoint_url=args.endpoint_url,
        commit_every_s=args.commit_every,
    )

    def ready(url: str, endpoint: str) -> None:
        print(f"K2 local stack is up. Query function: {url}", flush=True)
        print(f"  AWS endpoint: {endpoint} (AWS_ENDPOINT_URL for k2 lake stats|verify)")
        print(f"  curl '{url}/symbols'", flush=True)
        example = "symbols=BTCUSDT&interval=1m&start=2024-08-08&end=2024-08-10"  # generated days
        print(f"  curl '{url}/ohlcv?{example}'", flush=True)
        print("Ctrl-C (or SIGTERM) stops it.", flush=True)

    def status(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    try:
        report = up(options, on_ready=ready, on_status=status)
    except KeyboardInterrupt:  # a second Ctrl-C while draining
        print("interrupted while stopping", file=sys.stderr)
        return 130
    print(
        f"stopped cleanly: {report.frames_forwarded:,} trades forwarded, "
        f"{report.records_delivered:,} of {report.records_written:,} Kinesis records delivered, "
        f"{report.committed_rows:,} rows committed to the Iceberg table",
        flush=True,
    )
    return (
        0
        if report.records_delivered + report.failed_batches_skipped >= report.records_written
        else 1
    )


def _run(args: argparse.Namespace) -> int:
    options = RunOptions(
        replay=args.replay,
        symbols=[symbol.upper() for symbol in comma_list(args.symbols)],
        trades_per_symbol=args.trades_per_symbol,
        seed=args.seed,
        endpoint_url=args.endpoint_url,
        shards=args.shards,
        mapping=replace(
            RunOptions.mapping, batch_size=args.batch_size, batching_window_s=args.batching_window
        ),
        live=args.live,
        duration_s=args.duration,
        ws_url=args.ws_url,
        rest_url=args.rest_url,
    )
    for path in options.replay:
        if not path.is_file():
            print(f"k2 run: no such recording: {path}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    report = run(options, progress=_ProgressLine())
    print(file=sys.stderr)
    if args.json:
        sys.stdout.buffer.write(report.to_json() + b"\n")
    else:
        print(format_report(report, time.perf_counter() - started))
    return 0 if report.ok else 1


def _record(args: argparse.Namespace) -> int:
    from k2_connector.recorder import record  # the connector package, only needed here

    symbols = comma_list(args.symbols)
    kinds = tuple(comma_list(args.streams))
    try:
        frames = asyncio.run(record(symbols, args.ws_url, args.out, args.duration, kinds))
    except KeyboardInterrupt:
        return 130
    print(f"recorded {frames:,} frames to {args.out}-<date>.gz")
    return 0


class _ProgressLine:
    """One updating line on a terminal; a line every 2 s otherwise (CI logs)."""

    def __init__(self) -> None:
        self._interactive = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not self._interactive and not finished and now - self._last < 2:
            return
        self._last = now
        line = f"  {stage:<12} {done:>10,} / {total:,}"
        print(("\r" + line) if self._interactive else line, end="", file=sys.stderr, flush=True)
        if not self._interactive or finished:
            print(file=sys.stderr)


def comma_list(text: str) -> list[str]:
    """`"btcusdt, ethusdt,"` -> `["btcusdt", "ethusdt"]`."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _connector_line(stats: dict[str, int]) -> str:
    return (
        f"connector      {stats['frames_forwarded']:,} frames forwarded from the websocket, "
        f"{stats['backfilled']:,} backfilled over REST, {stats['duplicates']:,} duplicates "
        f"dropped, {stats['gaps']:,} gaps, {stats['reconnects']:,} reconnects"
    )


def _latency_line(latency_s: dict[str, float]) -> str:
    if not latency_s:
        return "latency        no records delivered"
    return (
        f"latency        Kinesis arrival -> landed in S3: p50 {latency_s['p50']:.3f} s, "
        f"p99 {latency_s['p99']:.3f} s, max {latency_s['max']:.3f} s"
    )


def _lake_line(report: RunReport) -> str:
    if report.lake is None or report.lake_symbols is None:
        return "lake           Iceberg commit skipped: this endpoint has no Glue catalog"
    lake = report.lake
    differences = sum(s.missing + s.duplicated + s.unexpected for s in report.lake_symbols)
    return (
        f"lake           {lake['committed_rows']:,} rows committed to the Iceberg table in "
        f"{lake['files']:,} files over {lake['partitions']:,} partitions (at most "
        f"{lake['max_files_per_partition']} per partition); differences from the source: "
        f"{differences:,}"
    )


def format_report(report: RunReport, elapsed_s: float) -> str:
    lines = [
        f"source         {report.source}",
        f"endpoint       {report.endpoint}",
        f"frames read    {report.frames_read:,} ({report.trade_frames:,} trades, "
        f"{report.non_trade_frames:,} non-trade, {report.rejected_in_source:,} malformed)",
        _connector_line(report.connector),
        f"kinesis        {report.kinesis['records']:,} aggregated records in "
        f"{report.kinesis['calls']:,} PutRecords calls ({report.kinesis['retried_entries']:,} "
        f"entries retried)",
        f"normalize      {report.event_source['invocations']:,} invocations "
        f"({report.event_source['retries']:,} retried); dead letters {report.dead_letters:,}; "
        f"failed batches (SQS) {report.failed_batches:,}",
        _latency_line(report.latency_s),
        _lake_line(report),
        "",
        format_symbols(report.symbols),
    ]
    if report.bars:
        lines += ["", "OHLCV 1m (first bars)"]
        lines.append(
            f"{'symbol':<10}{'bar start (UTC)':<18}{'open':>15}{'high':>15}{'low':>15}"
            f"{'close':>15}{'volume':>16}{'trades':>8}"
        )
        for bar in report.bars:
            lines.append(
                f"{bar['symbol']:<10}{bar['bar_start']:%Y-%m-%d %H:%M}  {bar['open']:>15}"
                f"{bar['high']:>15}{bar['low']:>15}{bar['close']:>15}{bar['volume']:>16}"
                f"{bar['trades']:>8,}"
            )
    verdict = "OK: every trade landed exactly once" if report.ok else "FAILED: see counts above"
    lines += ["", f"{verdict} ({elapsed_s:.1f} s)"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
