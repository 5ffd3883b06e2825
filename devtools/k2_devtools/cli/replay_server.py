"""`k2-replay-server`: a Binance-compatible server replaying recordings or generated frames,
with faults on demand (k2_devtools.replay_server), for trying the connector by hand."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.domain.instrument import DEFAULT_MARKET, MARKETS
from k2_devtools.replay_server import Faults, ReplayServer


def main(argv: Sequence[str] | None = None) -> int:
    args = _replay_parser().parse_args(argv)
    frames: list[RecordedFrame] = list(read_recordings(Path(path) for path in args.files))
    if args.generate:
        frames += list(generate_frames(args.generate.split(","), args.trades, seed=args.seed))
    if not frames:
        print("k2-replay-server: give recording files or --generate SYMBOLS", file=sys.stderr)
        return 2
    faults = Faults(
        drop_every=args.drop_every, stall_every=args.stall_every, stall_s=args.stall_s,
        shutdown_every=args.shutdown_every, duplicate_every=args.duplicate_every,
        malformed_every=args.malformed_every, gap_every=args.gap_every,
        refuse_first=args.refuse_first,
    )  # fmt: skip
    asyncio.run(_replay(frames, args, faults))
    return 0


async def _replay(frames: list[RecordedFrame], args: argparse.Namespace, faults: Faults) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.until_stdin_closes:  # the parent's end of the pipe closes when it exits, however

        def on_stdin() -> None:
            if not os.read(sys.stdin.fileno(), 4096):
                stop.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)
    trades = pa.ipc.open_file(args.trades_index).read_all() if args.trades_index else None
    server = ReplayServer(
        frames, speed=args.speed, faults=faults, host=args.host, port=args.port,
        market=args.market, trades=trades,
    )  # fmt: skip
    async with server:
        print(
            f"listening {server.url} (REST {server.rest_url}), {len(frames):,} frames", flush=True
        )
        await stop.wait()


def _replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k2-replay-server", description="A Binance-compatible server replaying a recording"
    )
    parser.add_argument("files", nargs="*", help="recordings: '<recv_ns> <frame>' per line")
    parser.add_argument("--generate", help="or generate frames for these symbols (comma list)")
    parser.add_argument("--trades", type=int, default=5_000, help="trades per generated symbol")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--market", choices=MARKETS, default=DEFAULT_MARKET, help="the market host to be"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="1 = recorded pace, 10 = ten times faster, 0 = max speed",
    )
    for fault in (
        "drop_every",
        "stall_every",
        "shutdown_every",
        "duplicate_every",
        "malformed_every",
        "gap_every",
        "refuse_first",
    ):
        parser.add_argument(f"--{fault.replace('_', '-')}", type=int, default=0)
    parser.add_argument("--stall-s", type=float, default=5.0)
    parser.add_argument(
        "--trades-index",
        help="an Arrow file of the frames' trades (frame_index, symbol, source_id), so the "
        "server need not parse them (k2_devtools.replay_process writes it)",
    )
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="also stop when standard input closes (a server started by another process)",
    )
    return parser  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
