"""`k2 lake commit | stats | verify`: run the committer, see the small-files budget, and prove
exactly-once against a recording. They act on the lake at AWS_ENDPOINT_URL (e.g. the one
`k2 local up` prints) or, without it, in AWS."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
import orjson

from k2_devtools.cli.format import existing_files, format_symbols

JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


@click.group(short_help="the trades Iceberg table: commit, stats, verify")
def lake() -> None:
    """The trades Iceberg table: commit, stats, verify."""


@lake.command(short_help="fold every waiting staging file into trades")
@JSON
def commit(as_json: bool) -> int:
    """Fold every waiting staging file into trades, in bounded runs."""
    from k2.adapters.iceberg import CommitterBusyError, TradesCommitter
    from k2.config import LakeSettings

    try:
        report = TradesCommitter(LakeSettings.from_env()).drain()
    except CommitterBusyError as busy:
        click.echo(f"k2 lake commit: {busy}", err=True)
        return 75  # EX_TEMPFAIL: try again later
    if as_json:
        click.echo(orjson.dumps(asdict(report)).decode())
    else:
        click.echo(
            f"{report.staging_files:,} staging files in {report.runs:,} runs: "
            f"{report.new_rows:,} new rows "
            f"committed, {report.duplicates_skipped:,} duplicates skipped; compacted "
            f"{', '.join(report.compacted_partitions) or 'nothing'}; "
            f"{report.staging_files_removed:,} consumed staging files removed, "
            f"{report.expired_files_removed:,} files of expired snapshots deleted"
        )
    return 0


@lake.command(short_help="files, rows and bytes per symbol-day partition")
@JSON
def stats(as_json: bool) -> int:
    """Files, rows and bytes per symbol-day partition."""
    from k2.adapters.iceberg import partition_stats
    from k2.config import LakeSettings

    partitions = partition_stats(LakeSettings.from_env())
    if as_json:
        rows = [asdict(p) | {"bytes_per_trade": round(p.bytes_per_trade, 2)} for p in partitions]
        click.echo(orjson.dumps({"partitions": rows}).decode())
        return 0
    click.echo(f"{'symbol':<14}{'day':<12}{'files':>6}{'rows':>12}{'bytes':>14}{'bytes/trade':>13}")
    for p in partitions:
        click.echo(
            f"{p.symbol:<14}{p.day:<12}{p.files:>6}{p.rows:>12,}{p.bytes:>14,}"
            f"{p.bytes_per_trade:>13.1f}"
        )
    files = sum(p.files for p in partitions)
    click.echo(
        f"{len(partitions)} partitions, {files} files, "
        f"{max((p.files for p in partitions), default=0)} at most per partition"
    )
    return 0


@lake.command(
    short_help="compare the trade ids in trades with a recording; exit 1 on any difference",
)
@click.option(
    "--source",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="a recording; repeatable",
)
@click.argument("more_sources", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE]...")
@JSON
def verify(source: tuple[Path, ...], more_sources: tuple[Path, ...], as_json: bool) -> int:
    """Compare the trade ids in trades with a recording; exit 1 on any difference."""
    from k2.adapters.iceberg import read_trades
    from k2.binance.frames import parse_frames
    from k2.binance.recording import read_recordings
    from k2.config import LakeSettings
    from k2.domain.lake.reconcile import reconcile

    sources = (*source, *more_sources)
    existing_files(sources)
    expected = parse_frames([recorded.frame for recorded in read_recordings(sources)])
    landed = read_trades(LakeSettings.from_env(), selected=("symbol", "source_sequence"))
    reports = reconcile(expected.trades, landed)
    clean = all(r.missing == r.duplicated == r.unexpected == 0 for r in reports)
    if as_json:
        click.echo(orjson.dumps({"ok": clean, "symbols": [asdict(r) for r in reports]}).decode())
    else:
        click.echo(format_symbols(reports))
        click.echo(
            "OK: every trade of the source is in trades exactly once"
            if clean
            else "FAILED: trades differs from the source"
        )
    return 0 if clean else 1
