"""`k2 soak --duration 10m|1h|24h`: the local pipeline under steady load, watched for memory
growth and loss; writes a JSON report and an HTML chart (k2_devtools.local.soak_run)."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict
from pathlib import Path

import click
import orjson

from k2_devtools.cli.format import existing_files, format_symbols

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(f"duration like 30s, 10m or 24h, not {text!r}")
    return float(match[1]) * _UNIT_S[match[2]]


class Duration(click.ParamType):
    name = "DURATION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        return value if isinstance(value, float) else duration_seconds(str(value))


@click.command(
    help="Replays a session in cycles with fresh trade ids through the whole local pipeline, "
    "samples RSS, CPU, Kinesis backlog and latency, then reconciles the Iceberg table with "
    "every id sent. Exits 1 on any loss or duplicate.",
    short_help="the local pipeline under steady load for a duration; report memory slope and loss",
)
@click.option(
    "--duration",
    type=Duration(),
    required=True,
    help="e.g. 10m, 1h: as many whole replay cycles as fit, at least one",
)
@click.option(
    "--replay",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="a recording to loop; repeatable (default: generated BTCUSDT, ETHUSDT frames)",
)
@click.argument("more_recordings", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE]...")
@click.option("--speed", type=float, default=2.0, show_default=True, help="x the recorded pace")
@click.option("--sample-every", type=float, default=5.0, show_default=True, metavar="SECONDS")
@click.option("--commit-every", type=float, default=30.0, show_default=True, metavar="SECONDS")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bench/soak"),
    show_default=True,
    help="report folder",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def soak(
    duration: float,
    replay: tuple[Path, ...],
    more_recordings: tuple[Path, ...],
    speed: float,
    sample_every: float,
    commit_every: float,
    out: Path,
    as_json: bool,
) -> int:
    recordings = (*replay, *more_recordings)
    existing_files(recordings)
    from k2_devtools.local.soak_run import SoakOptions, run_soak  # psutil, moto

    options = SoakOptions(
        duration_s=duration,
        replay=recordings,
        speed=speed,
        sample_every_s=sample_every,
        commit_every_s=commit_every,
        out_dir=out,
    )
    report = run_soak(options, lambda line: print(f"  {line}", file=sys.stderr))
    if as_json:
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
