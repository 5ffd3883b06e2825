"""`k2 local up`: the local stack in the foreground, the query function on localhost, until
Ctrl-C or SIGTERM (k2_devtools.local.stack_up)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click

from k2_devtools.cli.errors import EnvironmentProblem
from k2_devtools.cli.format import comma_list, existing_files
from k2_devtools.local.options import UpOptions

DEFAULTS = UpOptions()


@click.group(short_help="the local stack: `k2 local up`")
def local() -> None:
    """The local stack."""


@local.command(
    help="Frames -> connector -> Kinesis -> normalize -> lake, continuously, with the query "
    "function served like a function URL on 127.0.0.1. Ctrl-C or SIGTERM stops it cleanly: the "
    "connector flushes and the stream is drained first.",
    short_help="run the stack in the foreground, query function on localhost, until Ctrl-C",
)
@click.option(
    "--replay",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="a recording to replay; repeatable",
)
@click.argument("more_recordings", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE]...")
@click.option("--live", is_flag=True, help="connect to Binance itself (needs internet)")
@click.option("--symbols", default=",".join(DEFAULTS.symbols), show_default=True)
@click.option(
    "--trades-per-symbol", type=int, default=DEFAULTS.trades_per_symbol, show_default=True
)
@click.option(
    "--speed",
    type=float,
    default=DEFAULTS.speed,
    show_default=True,
    help="replay pace: 1 = as recorded, 0 = max",
)
@click.option("--port", type=int, default=DEFAULTS.port, show_default=True, help="0: any free port")
@click.option("--endpoint-url", default=lambda: os.environ.get("AWS_ENDPOINT_URL") or None)
@click.option(
    "--commit-every",
    type=float,
    default=DEFAULTS.commit_every_s,
    show_default=True,
    metavar="SECONDS",
    help="how often the Iceberg committer runs",
)
def up(
    replay: tuple[Path, ...],
    more_recordings: tuple[Path, ...],
    live: bool,
    symbols: str,
    trades_per_symbol: int,
    speed: float,
    port: int,
    endpoint_url: str | None,
    commit_every: float,
) -> int:
    recordings = (*replay, *more_recordings)
    existing_files(recordings)
    _port_is_free(port)
    from k2_devtools.local.stack_up import up as run_stack

    options = UpOptions(
        replay=recordings,
        live=live,
        symbols=[symbol.upper() for symbol in comma_list(symbols)],
        trades_per_symbol=trades_per_symbol,
        speed=speed,
        port=port,
        endpoint_url=endpoint_url,
        commit_every_s=commit_every,
    )
    try:
        report = run_stack(options, on_ready=_ready, on_status=_status)
    except KeyboardInterrupt:  # a second Ctrl-C while draining
        print("interrupted while stopping", file=sys.stderr)
        return 130
    print(
        f"stopped cleanly: {report.frames_forwarded:,} trades forwarded, "
        f"{report.records_delivered:,} of {report.records_written:,} Kinesis records delivered, "
        f"{report.committed_rows:,} rows committed to the Iceberg table",
        flush=True,
    )
    delivered = report.records_delivered + report.failed_batches_skipped
    return 0 if delivered >= report.records_written else 1


def _port_is_free(port: int) -> None:
    """Fail before anything starts when the query function's port is taken (the stack would
    otherwise come up, then die on an OSError once it tried to serve)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise EnvironmentProblem(
                "local up",
                f"port {port} is in use ({error.strerror}), perhaps by another `k2 local up`;"
                " stop it, or pass --port 0 for any free port",
            ) from error


def _ready(url: str, endpoint: str) -> None:
    print(f"K2 local stack is up. Query function: {url}", flush=True)
    print(f"  dashboard: {url}/dashboard/", flush=True)
    print(f"  AWS endpoint: {endpoint} (AWS_ENDPOINT_URL for k2 lake stats|verify)")
    print(f"  curl '{url}/symbols'", flush=True)
    example = "symbols=BTCUSDT&interval=1m&start=2024-08-08&end=2024-08-10"  # generated days
    print(f"  curl '{url}/ohlcv?{example}'", flush=True)
    print("Ctrl-C (or SIGTERM) stops it.", flush=True)


def _status(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)
