"""`k2 run`: the whole pipeline end to end on an embedded AWS endpoint, then a reconciliation
(k2_devtools.local.pipeline)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from k2.config import MappingSettings
from k2_devtools.cli.format import (
    StageProgress,
    comma_list,
    existing_files,
    format_symbols,
    text_table,
)
from k2_devtools.local.options import PRESETS, RunOptions

if TYPE_CHECKING:
    from k2_devtools.local.pipeline import RunReport

DEFAULTS = RunOptions()


@click.command(
    help="Frames (generated, or --replay recordings) -> Kinesis -> normalize -> Parquet on S3 + "
    "Glue -> Iceberg, then counts per symbol against the source. Exits 1 if any trade was lost "
    "or duplicated.",
    short_help="the whole pipeline end to end on an embedded AWS endpoint, then reconcile",
)
@click.option(
    "--replay",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="a recording '<recv_ns> <frame>' per line (gzip or plain); repeatable",
)
@click.argument("more_recordings", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE]...")
@click.option(
    "--symbols",
    default=",".join(DEFAULTS.symbols),
    show_default=True,
    help="symbols to generate when not replaying (comma-separated)",
)
@click.option(
    "--trades-per-symbol", type=int, default=DEFAULTS.trades_per_symbol, show_default=True
)
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=None,
    help="generate a whole-market session instead of --symbols: --preset-symbols symbols "
    "(S0000USDT...) over --preset-seconds, a few at hundreds of trades/s with bursts, the long "
    "tail at a trade a minute",
)
@click.option("--preset-symbols", type=int, default=DEFAULTS.preset_symbols, show_default=True)
@click.option("--preset-seconds", type=float, default=DEFAULTS.preset_seconds, show_default=True)
@click.option(
    "--endpoint-url",
    default=lambda: os.environ.get("AWS_ENDPOINT_URL") or None,
    help="use this AWS-compatible endpoint (default: $AWS_ENDPOINT_URL) instead of an "
    "embedded moto server; resources get a per-run suffix there",
)
@click.option("--shards", type=int, default=DEFAULTS.shards, show_default=True)
@click.option(
    "--batch-size",
    type=int,
    default=DEFAULTS.mapping.batch_size,
    show_default=True,
    help="Kinesis records per handler invocation (template default)",
)
@click.option(
    "--batching-window",
    type=float,
    default=DEFAULTS.mapping.batching_window_s,
    show_default=True,
    metavar="SECONDS",
    help=f"MaximumBatchingWindowInSeconds (deployed: {MappingSettings().batching_window_s:g})",
)
@click.option(
    "--live",
    is_flag=True,
    help="connect the connector to Binance itself (needs internet); reconcile what it sent",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    metavar="SECONDS",
    help="stop streaming after this long (live: default until Ctrl-C)",
)
@click.option("--ws-url", default=DEFAULTS.ws_url, show_default=True, help="with --live")
@click.option("--rest-url", default=DEFAULTS.rest_url, show_default=True, help="with --live")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def run(
    replay: tuple[Path, ...],
    more_recordings: tuple[Path, ...],
    symbols: str,
    trades_per_symbol: int,
    seed: int,
    preset: str | None,
    preset_symbols: int,
    preset_seconds: float,
    endpoint_url: str | None,
    shards: int,
    batch_size: int,
    batching_window: float,
    live: bool,
    duration: float | None,
    ws_url: str,
    rest_url: str,
    as_json: bool,
) -> int:
    recordings = (*replay, *more_recordings)
    existing_files(recordings)
    from k2_devtools.local.pipeline import run as run_pipeline

    options = RunOptions(
        replay=recordings,
        symbols=[symbol.upper() for symbol in comma_list(symbols)],
        trades_per_symbol=trades_per_symbol,
        seed=seed,
        preset=preset,
        preset_symbols=preset_symbols,
        preset_seconds=preset_seconds,
        endpoint_url=endpoint_url,
        shards=shards,
        mapping=replace(DEFAULTS.mapping, batch_size=batch_size, batching_window_s=batching_window),
        live=live,
        duration_s=duration,
        ws_url=ws_url,
        rest_url=rest_url,
    )
    started = time.perf_counter()
    with StageProgress() as progress:
        report = run_pipeline(options, progress=progress)
    if as_json:
        sys.stdout.buffer.write(report.to_json() + b"\n")
    else:
        print(format_report(report, time.perf_counter() - started))
    return 0 if report.ok else 1


def _connector_line(stats: dict[str, int]) -> str:
    return (
        f"connector      {stats['trades_forwarded']:,} distinct trades forwarded "
        f"({stats['backfilled']:,} of them backfilled over REST), {stats['duplicates']:,} "
        f"duplicates dropped, {stats['unsubscribed']:,} trades of unsubscribed symbols, "
        f"{stats['dead_letters']:,} frames Kinesis cannot take, {stats['gaps']:,} gaps, "
        f"{stats['reconnects']:,} reconnects"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


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
        f"{lake['files']:,} files over {lake['partitions']:,} days (at most "
        f"{lake['max_files_per_partition']} a day); differences from the source by its "
        f"completeness ledger: {differences:,}"
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
        f"dead letters   {_counts(report.dead_letters_by_reason)}",
        f"gap trade ids  {_counts(report.gaps)}",
        _latency_line(report.latency_s),
        _lake_line(report),
        "",
        format_symbols(report.symbols),
    ]
    if report.bars:
        columns = ("symbol", "bar start (UTC)", "open", "high", "low", "close", "volume", "trades")
        prices = ("open", "high", "low", "close", "volume", "trades")
        rows = [(bar["symbol"], f"{bar['bar_start']:%Y-%m-%d %H:%M}", *(bar[k] for k in prices))
                for bar in report.bars]  # fmt: skip
        lines += ["", "OHLCV 1m (first bars)", text_table(columns, rows)]
    verdict = "OK: every trade landed exactly once" if report.ok else "FAILED: see counts above"
    if report.stopped:
        verdict = f"STOPPED ({report.stopped}): the counts above are what landed by then"
    lines += ["", f"{verdict} ({elapsed_s:.1f} s)"]
    return "\n".join(lines)
