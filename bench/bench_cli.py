"""How fast `k2` answers a person at a terminal: `k2 --help`, and `k2 query symbols --url`
against a running query function next to the same request made by curl (the HTTP itself).
Both are whole processes, started as a shell would start them; medians of 7 runs after a
warm-up. The query function serves 100,000 synthetic trades on an embedded moto server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import check, repeat, summarize, write
from bench.synthetic import tradev2_rows
from k2.adapters.iceberg import ensure_trades_table, trades_catalog
from k2.config import CommitterSettings, LakeSettings
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.function_url import FunctionUrlServer
from k2_devtools.local.resources import LocalStack, create_resources

K2 = str(Path(sys.executable).with_name("k2"))
RUNS = 7
TARGET_HELP_S = 1.0  # issue #20: every command starts in well under a second
TARGET_OVER_CURL_S = 0.5  # k2 query within half a second of curl's time


def wall_s(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("bench cli compares with curl, which is not installed")
    with embedded_endpoint() as url, endpoint_environment(url):
        lake = LakeSettings.from_env()
        create_resources(LocalStack(lake))
        table = ensure_trades_table(trades_catalog(lake), lake, CommitterSettings())
        table.append(tradev2_rows(100_000, ["BTCUSDT", "ETHUSDT"]))
        from query import handler

        with (
            scoped_environment({"QUERY_ENGINE": "local", "QUERY_WORKERS": "0"}),
            FunctionUrlServer(handler.lambda_handler, "query") as server,
        ):
            symbols = f"{server.url}/symbols"
            wall_s([curl, "-sf", symbols])  # warm-up: the engine's first look at the lake
            measured = {
                "help": repeat(RUNS, lambda: wall_s([K2, "--help"])),
                "query_symbols": repeat(RUNS, lambda: wall_s([K2, "query", "symbols",
                                                              "--url", server.url])),
                "curl_symbols": repeat(RUNS, lambda: wall_s([curl, "-sf", symbols])),
            }  # fmt: skip
    medians = {name: sorted(samples)[RUNS // 2] for name, samples in measured.items()}
    for name, median in medians.items():
        print(f"  {name}: median {median:.3f} s")
    over_curl = medians["query_symbols"] - medians["curl_symbols"]
    write("cli", {
        "measurements": {name: summarize(samples, "lower") for name, samples in measured.items()},
        "checks": {
            "help_s": check("k2 --help (s)", medians["help"], TARGET_HELP_S, False),
            "query_over_curl_s": check("k2 query symbols minus curl (s)", over_curl,
                                       TARGET_OVER_CURL_S, False),
        },
    })  # fmt: skip


if __name__ == "__main__":
    main()
