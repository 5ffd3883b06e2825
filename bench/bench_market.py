"""Whole-market capture: the same trades over 3, 100, 500 and 1,500 symbols through `k2 run`.

Each run is `k2 run --symbols ... --json` in its own process (so its peak RSS is its own): the
replay server, the connector over real websockets, Kinesis, the normalize function, staging,
the committer and the completeness-ledger reconciliation, on an embedded moto server. Per
symbol count: trades/s through the pipeline (source played to lake reconciled), and per
1,000,000 trades the Kinesis records, normalize invocations, staging objects (= normalize S3
PUTs: one per batch and day, plus any dead-letter file) and table files; peak RSS; latency
from Kinesis arrival to staging p50/p99; whether every trade landed exactly once.

These per-trade counters are what `k2 cost` prices (bench/results/market.json).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import orjson

from bench.common import check, write
from k2_devtools.local.options import SOURCE_STAGE

TOTAL_TRADES = 150_000
SYMBOL_COUNTS = (3, 100, 500, 1_500)
TARGET_TRADES_PER_S = 10_000
TARGET_SCALE_RATIO = 0.5  # 1,500 symbols vs 3 symbols, same trades
TARGET_TRADES_PER_RECORD = 50
TARGET_PUTS_PER_INVOCATION = 2
TARGET_PEAK_RSS_MB = 2_048
TARGET_RECONCILE_S = 10.0


def k2_run(symbols: int) -> tuple[dict[str, Any], float, float]:
    """One `k2 run` over `symbols` generated symbols: its report, wall seconds, peak RSS MB."""
    names = ",".join(f"S{i:04d}USDT" for i in range(symbols))
    command = [sys.executable, "-m", "k2_devtools.cli", "run", "--symbols", names,
               "--trades-per-symbol", str(TOTAL_TRADES // symbols), "--json"]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    if not stdout:
        raise RuntimeError(f"k2 run over {symbols} symbols printed nothing (status {status})")
    return orjson.loads(stdout), wall_s, usage.ru_maxrss / 1024


def figures(report: dict[str, Any], wall_s: float, rss_mb: float) -> dict[str, Any]:
    trades = report["trade_frames"]
    per_million = 1_000_000 / trades
    seconds = report["seconds"]
    # the exchange's side (generating the session) and the referee's (parsing what must land)
    # are reported as the source stage and are not the pipeline's time
    pipeline_s = sum(value for name, value in seconds.items() if name != SOURCE_STAGE)
    invocations = report["event_source"]["invocations"]
    puts = report["objects"]["staging"] + report["objects"]["dead_letters"]
    return {
        "trades": trades,
        "exactly_once": report["ok"],
        "stopped": report["stopped"],
        "trades_per_s": round(trades / pipeline_s),
        "pipeline_s": round(pipeline_s, 1),
        "wall_s": round(wall_s, 1),
        "stage_s": {name: round(value, 1) for name, value in seconds.items()},
        "trades_per_record": round(trades / report["kinesis"]["records"], 1),
        "normalize_puts_per_invocation": round(puts / invocations, 2),
        "per_million_trades": {
            "kinesis_records": round(report["kinesis"]["records"] * per_million),
            "kinesis_put_calls": round(report["kinesis"]["calls"] * per_million),
            "normalize_invocations": round(invocations * per_million),
            "staging_objects": round(report["objects"]["staging"] * per_million),
            "normalize_s3_puts": round(puts * per_million),
            "table_files": round(report["lake"]["files"] * per_million) if report["lake"] else None,
        },
        "peak_rss_mb": round(rss_mb),
        "latency_s": report["latency_s"],
        "reconcile_s": round(seconds.get("reconcile", 0.0) + seconds.get("lake_commit", 0.0), 1),
    }


def main() -> None:
    counts = ", ".join(map(str, SYMBOL_COUNTS))
    print(f"market: {TOTAL_TRADES:,} trades over {counts} symbols, each a k2 run (replay "
          f"server, connector, Kinesis, normalize, staging, Iceberg)")  # fmt: skip
    runs: dict[str, dict[str, Any]] = {}
    for count in SYMBOL_COUNTS:
        run = figures(*k2_run(count))
        runs[str(count)] = run
        per = run["per_million_trades"]
        print(f"  {count:>5} symbols: {run['trades_per_s']:>6,} trades/s "
              f"({run['pipeline_s']} s), {run['trades_per_record']:>6} trades/record, "
              f"{run['normalize_puts_per_invocation']} PUTs/invocation; per 1 M trades "
              f"{per['kinesis_records']:,} records, {per['normalize_invocations']:,} "
              f"invocations, {per['staging_objects']:,} staging objects, {per['table_files']} "
              f"table files; peak {run['peak_rss_mb']:,} MB; latency p50 "
              f"{run['latency_s'].get('p50')} s p99 {run['latency_s'].get('p99')} s; "
              f"exactly once: {run['exactly_once']}")  # fmt: skip
    few, whole = runs[str(SYMBOL_COUNTS[0])], runs[str(SYMBOL_COUNTS[-1])]
    checks = {
        "exactly_once": check("runs with every trade exactly once",
                              sum(r["exactly_once"] for r in runs.values()), len(runs), True),
        "scale_ratio": check("trades/s at 1,500 symbols / at 3",
                             whole["trades_per_s"] / few["trades_per_s"], TARGET_SCALE_RATIO, True),
        "trades_per_s": check("trades/s at 1,500 symbols", whole["trades_per_s"],
                              TARGET_TRADES_PER_S, True),
        "trades_per_record": check("trades per Kinesis record at 1,500 symbols",
                                   whole["trades_per_record"], TARGET_TRADES_PER_RECORD, True),
        "puts_per_invocation": check("normalize S3 PUTs per invocation at 1,500 symbols",
                                     whole["normalize_puts_per_invocation"],
                                     TARGET_PUTS_PER_INVOCATION, False),
        "peak_rss_mb": check("peak RSS of k2 run at 1,500 symbols (MB)", whole["peak_rss_mb"],
                             TARGET_PEAK_RSS_MB, False),
        "reconcile_s": check("commit + reconciliation at 1,500 symbols (s)",
                             whole["reconcile_s"], TARGET_RECONCILE_S, False),
    }  # fmt: skip
    write("market", {"total_trades": TOTAL_TRADES, "runs": runs, "checks": checks})


if __name__ == "__main__":
    main()
