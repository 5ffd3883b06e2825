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


@lake.command(short_help="files, rows and bytes per day")
@JSON
def stats(as_json: bool) -> int:
    """Files, rows and bytes per day (the table's partition)."""
    from k2.adapters.iceberg import partition_stats
    from k2.config import LakeSettings

    partitions = partition_stats(LakeSettings.from_env())
    if as_json:
        rows = [asdict(p) | {"bytes_per_trade": round(p.bytes_per_trade, 2)} for p in partitions]
        click.echo(orjson.dumps({"partitions": rows}).decode())
        return 0
    click.echo(f"{'day':<12}{'files':>6}{'rows':>12}{'bytes':>14}{'bytes/trade':>13}")
    for p in partitions:
        click.echo(f"{p.day:<12}{p.files:>6}{p.rows:>12,}{p.bytes:>14,}{p.bytes_per_trade:>13.1f}")
    files = sum(p.files for p in partitions)
    click.echo(
        f"{len(partitions)} days, {files} files, "
        f"{max((p.files for p in partitions), default=0)} at most per day"
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
@click.option(
    "--rows",
    "read_rows",
    is_flag=True,
    help="read every row's id back instead of the completeness ledger (slower; checks the "
    "ledger itself)",
)
@JSON
def verify(
    source: tuple[Path, ...], more_sources: tuple[Path, ...], read_rows: bool, as_json: bool
) -> int:
    """Compare the trade ids in trades with a recording; exit 1 on any difference."""
    from k2.adapters.iceberg import completeness_ledger, read_trades
    from k2.config import LakeSettings
    from k2.domain.lake.reconcile import reconcile, reconcile_ledger
    from k2_devtools.local.sources import parse_recordings

    sources = (*source, *more_sources)
    existing_files(sources)
    expected = parse_recordings(sources)  # each recording read as its own market's
    lake = LakeSettings.from_env()
    if read_rows:
        landed = read_trades(lake, selected=("exchange", "symbol", "source_sequence"))
        reports = reconcile(expected.trades, landed)
    else:
        reports = reconcile_ledger(expected.trades, completeness_ledger(lake))
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


@lake.command(short_help="what trades holds per instrument and day: rows, ids, missing ranges")
@click.option("--symbol", default=None, help="only this symbol")
@click.option("--gaps-only", is_flag=True, help="only instrument-days with missing ids")
@JSON
def completeness(symbol: str | None, gaps_only: bool, as_json: bool) -> int:
    """The completeness ledger the committer keeps: per instrument and UTC day, rows, distinct
    trade ids, first and last id, and the id ranges missing in between."""
    from k2.adapters.iceberg import completeness_ledger
    from k2.config import LakeSettings
    from k2.domain.lake.completeness import instrument_days

    days = instrument_days(completeness_ledger(LakeSettings.from_env()))
    shown = [d for d in days if (symbol is None or d.symbol == symbol.upper())
             and (not gaps_only or d.missing_ids)]  # fmt: skip
    if as_json:
        rows = [d.as_json() for d in shown]
        click.echo(orjson.dumps({"instrument_days": rows}).decode())
        return 0
    click.echo(f"{'exchange':<17}{'symbol':<14}{'day':<12}{'rows':>10}{'distinct':>10}"
               f"{'first id':>14}{'last id':>14}{'missing':>9}  missing ranges")  # fmt: skip
    for d in shown:
        ranges = ", ".join(f"{a}-{b}" for a, b in d.missing_ranges[:3])
        more = f" (+{len(d.missing_ranges) - 3})" if len(d.missing_ranges) > 3 else ""
        click.echo(f"{d.exchange:<17}{d.symbol:<14}{d.trade_date:<12}{d.rows:>10,}"
                   f"{d.distinct_ids:>10,}{d.first_id:>14}{d.last_id:>14}{d.missing_ids:>9,}"
                   f"  {ranges}{more}")  # fmt: skip
    click.echo(f"{len(shown):,} instrument-days, {sum(d.rows for d in shown):,} rows, "
               f"{sum(d.missing_ids for d in shown):,} ids missing between first and last; "
               f"{sum(d.rows - d.distinct_ids for d in shown):,} duplicated")  # fmt: skip
    return 0
