"""What the deployed stack costs a month for a given load: a model, not a bill.

Quantities come from the load (average and peak trades/s), the template's settings (memory
sizes, batching window, committer schedule, connector task size) and what the benchmarks
measured (bytes per trade in the lake, staging PUTs per invocation, trades per Kinesis record
are capped by the connector's flush); prices from the table below, which can be overridden
with a JSON file of the same keys. Every line says how it was computed, so a wrong assumption
is visible rather than buried in a total.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

# us-east-1 list prices entered from AWS's public pricing pages (as known on 2026-11-29; this
# machine has no internet, so they were not fetched): check them before relying on a figure,
# and pass --prices FILE to override any of them.
PRICES_DATE = "2026-11-29"
US_EAST_1 = {
    "kinesis_shard_hour": 0.015,
    "kinesis_put_payload_unit_million": 0.014,  # 25 KB units
    "kinesis_on_demand_stream_hour": 0.04,
    "kinesis_on_demand_gb_in": 0.08,  # records rounded up to 1 KB
    "kinesis_on_demand_gb_out": 0.04,
    "lambda_request_million": 0.20,
    "lambda_gb_second": 0.0000166667,  # x86_64, as the template deploys
    "s3_gb_month": 0.023,
    "s3_put_thousand": 0.005,
    "s3_get_thousand": 0.0004,
    "athena_tb_scanned": 5.0,  # 10 MB minimum per query
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "public_ipv4_hour": 0.005,  # the connector task's own address (no NAT gateway)
    "efs_gb_month": 0.30,
    "cloudwatch_logs_gb": 0.50,
    "glue_request_million_over_free": 1.0,  # the first million a month are free
}


@dataclass(frozen=True)
class Load:
    trades_per_s: float  # monthly average
    peak_trades_per_s: float  # sustained over minutes; shorter bursts queue in the connector
    symbols: int
    queries_per_day: int = 1_000  # dashboard and notebook questions, each one symbol-day


@dataclass(frozen=True)
class Measured:
    """What the benchmarks measured (bench/results), with the figures used when absent."""

    frame_bytes: float = 170.0  # a Binance trade frame (recorded session: 167-169)
    lake_bytes_per_trade: float = 11.5  # bench_partitioning, day + sort
    staging_puts_per_invocation: float = 1.0  # bench_market at 1,500 symbols
    normalize_us_per_trade: float = 10.0  # bench_normalize: parse + Parquet, with headroom


def measured_from(results: Path) -> tuple[Measured, str]:
    """The figures of a `k2 bench market` run (its 1,500-symbol run), or the defaults."""
    if not results.is_file():
        return Measured(), "defaults (no bench/results/market.json)"
    runs = json.loads(results.read_text())["runs"]
    widest = runs[max(runs, key=int)]
    return (
        Measured(staging_puts_per_invocation=widest["normalize_puts_per_invocation"]),
        f"{results.name} ({max(runs, key=int)} symbols, measured "
        f"{json.loads(results.read_text())['environment']['measured_at'][:10]})",
    )


@dataclass(frozen=True)
class Deployment:
    """The template's settings that cost money."""

    flush_interval_s: float = 0.2  # the connector's
    max_record_bytes: int = 256 * 1024
    batching_window_s: float = 5.0
    batch_size: int = 100  # records per normalize invocation
    normalize_memory_gb: float = 1.0
    normalize_fixed_s: float = 0.15  # per invocation: S3 PUT, Glue partition check, start-up
    committer_memory_gb: float = 2.9375  # 3,008 MB
    committer_runs_per_day: int = 288  # every 5 minutes
    committer_s_per_run: float = 10.0
    committer_puts_per_run: int = 8  # data file, manifests, metadata, ledgers
    connector_vcpu: float = 0.5
    connector_gb: float = 1.0
    journal_gb: float = 1.0
    log_bytes_per_invocation: int = 1_500
    kinesis_mode: str = "provisioned"


@dataclass
class Line:
    service: str
    item: str
    monthly_usd: float
    how: str


@dataclass
class Estimate:
    load: Load
    lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.monthly_usd
        return dict(sorted(totals.items(), key=lambda item: -item[1]))


def estimate(
    load: Load,
    measured: Measured | None = None,
    deployment: Deployment | None = None,
    prices: dict[str, float] | None = None,
) -> Estimate:
    m, d, p = measured or Measured(), deployment or Deployment(), {**US_EAST_1, **(prices or {})}
    out = Estimate(load)
    trades = load.trades_per_s * SECONDS_PER_MONTH
    shards = max(1, math.ceil(load.peak_trades_per_s * m.frame_bytes / 1_000_000))
    per_record = min(max(1.0, load.trades_per_s / shards * d.flush_interval_s),
                     d.max_record_bytes / m.frame_bytes)  # fmt: skip
    records = trades / per_record
    stream_gb = trades * m.frame_bytes / 1e9
    _kinesis(out, d, p, shards, records, per_record, m, stream_gb)
    invocations = (
        shards
        * SECONDS_PER_MONTH
        * max(1 / d.batching_window_s, records / SECONDS_PER_MONTH / shards / d.batch_size)
    )
    per_invocation = trades / invocations
    seconds = d.normalize_fixed_s + per_invocation * m.normalize_us_per_trade / 1e6
    out.lines += [
        Line("Lambda", "normalize requests", invocations / 1e6 * p["lambda_request_million"],
             f"{invocations:,.0f} invocations: {shards} shard(s), a batch every "
             f"{d.batching_window_s:g} s or {d.batch_size} records"),
        Line("Lambda", "normalize compute",
             invocations * seconds * d.normalize_memory_gb * p["lambda_gb_second"],
             f"{seconds:.2f} s x {d.normalize_memory_gb:g} GB per invocation "
             f"({per_invocation:,.0f} trades)"),
    ]  # fmt: skip
    commits = d.committer_runs_per_day * 30.4
    out.lines.append(Line("Lambda", "committer",
                          commits * (d.committer_s_per_run * d.committer_memory_gb
                                     * p["lambda_gb_second"] + p["lambda_request_million"] / 1e6),
                          f"{commits:,.0f} runs x {d.committer_s_per_run:g} s x "
                          f"{d.committer_memory_gb:g} GB"))  # fmt: skip
    _s3(out, p, m, d, trades, invocations, commits)
    _rest(out, p, d, load, m, invocations, commits)
    return out


def _kinesis(out: Estimate, d: Deployment, p: dict[str, float], shards: int, records: float,
             per_record: float, m: Measured, stream_gb: float) -> None:  # fmt: skip
    record_kb = per_record * m.frame_bytes / 1024
    if d.kinesis_mode == "on-demand":
        billed_in = records * math.ceil(record_kb) / 1024 / 1024
        out.lines += [
            Line("Kinesis", "on-demand stream",
                 HOURS_PER_MONTH * p["kinesis_on_demand_stream_hour"], "one stream, every hour"),
            Line("Kinesis", "data in", billed_in * p["kinesis_on_demand_gb_in"],
                 f"{billed_in:,.0f} GB ({record_kb:.1f} KB records rounded up to 1 KB)"),
            Line("Kinesis", "data out", stream_gb * p["kinesis_on_demand_gb_out"],
                 f"{stream_gb:,.0f} GB read by the normalize function"),
        ]  # fmt: skip
        return
    units = records * math.ceil(record_kb / 25)
    out.lines += [
        Line("Kinesis", "shard-hours", shards * HOURS_PER_MONTH * p["kinesis_shard_hour"],
             f"{shards} shard(s) for the sustained peak at {m.frame_bytes:g} B a frame (1 MB/s "
             f"each)"),
        Line("Kinesis", "PUT payload units", units / 1e6 * p["kinesis_put_payload_unit_million"],
             f"{records:,.0f} records of {per_record:,.0f} trades ({record_kb:.1f} KB), 25 KB "
             f"units"),
    ]  # fmt: skip


def _s3(out: Estimate, p: dict[str, float], m: Measured, d: Deployment, trades: float,
        invocations: float, commits: float) -> None:  # fmt: skip
    puts = invocations * m.staging_puts_per_invocation + commits * d.committer_puts_per_run
    gets = invocations * m.staging_puts_per_invocation + commits * 6
    lake_gb = trades * m.lake_bytes_per_trade / 1e9
    out.lines += [
        Line("S3", "PUT requests", puts / 1e3 * p["s3_put_thousand"],
             f"{puts:,.0f}: {m.staging_puts_per_invocation:g} staging file per invocation, "
             f"{d.committer_puts_per_run} per commit"),
        Line("S3", "GET requests", gets / 1e3 * p["s3_get_thousand"],
             "the committer reads each staging file once, plus table metadata"),
        Line("S3", "storage, per month of history kept", lake_gb * p["s3_gb_month"],
             f"{lake_gb:,.1f} GB a month at {m.lake_bytes_per_trade:g} bytes a trade; a year of "
             f"history costs 12 x this"),
    ]  # fmt: skip


def _rest(out: Estimate, p: dict[str, float], d: Deployment, load: Load, m: Measured,
          invocations: float, commits: float) -> None:  # fmt: skip
    symbol_day_gb = load.trades_per_s * 86_400 * m.lake_bytes_per_trade / load.symbols / 1e9
    scanned_tb = load.queries_per_day * 30.4 * max(symbol_day_gb, 0.01) / 1000
    logs_gb = (invocations + commits) * d.log_bytes_per_invocation / 1e9
    glue = max(0.0, commits * 10 - 1e6) / 1e6
    out.lines += [
        Line("Athena", "queries", scanned_tb * p["athena_tb_scanned"],
             f"{load.queries_per_day:,} a day, each one symbol's day "
             f"({max(symbol_day_gb, 0.01) * 1000:,.0f} MB billed, 10 MB minimum)"),
        Line("Fargate", "connector task",
             HOURS_PER_MONTH * (d.connector_vcpu * p["fargate_vcpu_hour"]
                                + d.connector_gb * p["fargate_gb_hour"]),
             f"{d.connector_vcpu:g} vCPU, {d.connector_gb:g} GB, always on"),
        Line("VPC", "connector public IPv4", HOURS_PER_MONTH * p["public_ipv4_hour"],
             "the task's own address; no NAT gateway"),
        Line("EFS", "connector journal", d.journal_gb * p["efs_gb_month"],
             f"{d.journal_gb:g} GB provisioned for outages"),
        Line("CloudWatch", "logs", logs_gb * p["cloudwatch_logs_gb"],
             f"{d.log_bytes_per_invocation:,} bytes per invocation"),
        Line("Glue", "catalog requests", glue * p["glue_request_million_over_free"],
             "about 10 a commit: within the free million"),
    ]  # fmt: skip
