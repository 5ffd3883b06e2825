"""`k2 soak --duration 10m|1h|24h`: the local pipeline under steady load, watched for memory
growth and loss; writes a JSON report and an HTML chart (k2.local.soak_run)."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import asdict
from pathlib import Path

import orjson

from k2.lake_cli import format_symbols

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"duration like 30s, 10m or 24h, not {text!r}")
    return float(match[1]) * _UNIT_S[match[2]]


def add_soak_parser(commands: argparse._SubParsersAction) -> None:
    soak = commands.add_parser(
        "soak",
        help="the local pipeline under steady load for a duration; report memory slope and loss",
        description="Replays a session in cycles with fresh trade ids through the whole local "
        "pipeline, samples RSS, CPU, Kinesis backlog and latency, then reconciles the "
        "Iceberg table with every id sent. Exits 1 on any loss or duplicate.",
    )
    soak.add_argument(
        "--duration",
        type=duration_seconds,
        required=True,
        help="e.g. 10m, 1h: as many whole replay cycles as fit, at least one",
    )
    soak.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        default=(),
        metavar="FILE",
        help="recordings to loop (default: generated BTCUSDT, ETHUSDT frames)",
    )
    soak.add_argument("--speed", type=float, default=2.0, help="x the recorded pace (2)")
    soak.add_argument("--sample-every", type=float, default=5.0, metavar="SECONDS")
    soak.add_argument("--commit-every", type=float, default=30.0, metavar="SECONDS")
    soak.add_argument("--out", type=Path, default=Path("bench/soak"), help="report folder")
    soak.add_argument("--json", action="store_true", help="print the report as JSON")
    soak.set_defaults(command=_soak)


def _soak(args: argparse.Namespace) -> int:
    from k2.local.soak_run import SoakOptions, run_soak  # the local extra: psutil, moto

    for path in args.replay:
        if not path.is_file():
            print(f"k2 soak: no such recording: {path}", file=sys.stderr)
            return 2
    options = SoakOptions(
        duration_s=args.duration,
        replay=tuple(args.replay),
        speed=args.speed,
        sample_every_s=args.sample_every,
        commit_every_s=args.commit_every,
        out_dir=args.out,
    )
    report = run_soak(options, lambda line: print(f"  {line}", file=sys.stderr))
    if args.json:
        body = asdict(report) | {"ok": report.ok}
        body.pop("samples")
        print(orjson.dumps(body).decode())
    else:
        print(format_symbols(report.symbols))
        print(
            f"{report.cycles} cycles, {report.trades_sent:,} trades; peak RSS "
            f"{report.peak_rss_mb:,.0f} MB, memory slope {report.memory_slope_mb_per_hour:+.1f} "
            f"MB/h; latency p99 {report.latency_p99_s} s"
        )
        print(f"report: {report.files['json']}  chart: {report.files['html']}")
        print(
            "OK: every trade of every cycle is in the table exactly once"
            if report.ok
            else "FAILED: trades lost or duplicated"
        )
    return 0 if report.ok else 1
