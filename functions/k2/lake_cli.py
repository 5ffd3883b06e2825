"""`k2 lake commit | stats | verify`: run the committer, see the small-files budget, and prove
exactly-once against a recording. They act on the lake at AWS_ENDPOINT_URL (e.g. the one
`k2 local up` prints) or, without it, in AWS."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import orjson

from k2.adapters.iceberg_lake import (
    CommitterBusyError,
    TradesCommitter,
    partition_stats,
    read_trades,
)
from k2.binance.frames import parse_frames
from k2.binance.recording import read_recordings
from k2.config import LakeSettings
from k2.lake.reconcile import SymbolReport, reconcile


def add_lake_parser(commands: argparse._SubParsersAction) -> None:
    lake = commands.add_parser("lake", help="the trades Iceberg table: commit, stats, verify")
    actions = lake.add_subparsers(required=True, metavar="ACTION")
    commit = actions.add_parser("commit", help="fold new staging files into trades, once")
    commit.set_defaults(command=_commit)
    stats = actions.add_parser("stats", help="files, rows and bytes per symbol-day partition")
    stats.set_defaults(command=_stats)
    verify = actions.add_parser(
        "verify", help="compare the trade ids in trades with a recording; exit 1 on any difference"
    )
    verify.add_argument("--source", nargs="+", type=Path, required=True, metavar="FILE")
    verify.set_defaults(command=_verify)
    for parser in (commit, stats, verify):
        parser.add_argument("--json", action="store_true")


def _commit(args: argparse.Namespace) -> int:
    try:
        report = TradesCommitter(LakeSettings.from_env()).run()
    except CommitterBusyError as busy:
        print(f"k2 lake commit: {busy}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: try again later
    if args.json:
        print(orjson.dumps(asdict(report)).decode())
    else:
        print(f"{report.staging_files:,} staging files: {report.new_rows:,} new rows committed, "
              f"{report.duplicates_skipped:,} duplicates skipped; compacted "
              f"{', '.join(report.compacted_partitions) or 'nothing'}; "
              f"{report.staging_files_removed:,} consumed staging files removed, "
              f"{report.expired_files_removed:,} files of expired snapshots deleted")  # fmt: skip
    return 0


def _stats(args: argparse.Namespace) -> int:
    partitions = partition_stats(LakeSettings.from_env())
    if args.json:
        rows = [asdict(p) | {"bytes_per_trade": round(p.bytes_per_trade, 2)} for p in partitions]
        print(orjson.dumps({"partitions": rows}).decode())
        return 0
    print(f"{'symbol':<14}{'day':<12}{'files':>6}{'rows':>12}{'bytes':>14}{'bytes/trade':>13}")
    for p in partitions:
        print(f"{p.symbol:<14}{p.day:<12}{p.files:>6}{p.rows:>12,}{p.bytes:>14,}"
              f"{p.bytes_per_trade:>13.1f}")  # fmt: skip
    files = sum(p.files for p in partitions)
    print(f"{len(partitions)} partitions, {files} files, "
          f"{max((p.files for p in partitions), default=0)} at most per partition")  # fmt: skip
    return 0


def _verify(args: argparse.Namespace) -> int:
    for path in args.source:
        if not path.is_file():
            print(f"k2 lake verify: no such recording: {path}", file=sys.stderr)
            return 2
    expected = parse_frames([recorded.frame for recorded in read_recordings(args.source)])
    landed = read_trades(LakeSettings.from_env(), selected=("symbol", "source_sequence"))
    reports = reconcile(expected.trades, landed)
    clean = all(r.missing == r.duplicated == r.unexpected == 0 for r in reports)
    if args.json:
        print(orjson.dumps({"ok": clean, "symbols": [asdict(r) for r in reports]}).decode())
    else:
        print(format_symbols(reports))
        print("OK: every trade of the source is in trades exactly once" if clean
              else "FAILED: trades differs from the source")  # fmt: skip
    return 0 if clean else 1


def format_symbols(reports: list[SymbolReport]) -> str:
    lines = [
        f"{'symbol':<14}{'expected':>10}{'landed':>10}{'missing':>9}{'dup':>6}{'unexpected':>12}"
    ]
    for s in reports:
        lines.append(f"{s.symbol:<14}{s.expected:>10,}{s.landed_rows:>10,}{s.missing:>9,}"
                     f"{s.duplicated:>6,}{s.unexpected:>12,}")  # fmt: skip
    return "\n".join(lines)
