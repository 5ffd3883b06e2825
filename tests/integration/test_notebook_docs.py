"""docs/notebooks.md, executed: every Python snippet runs in order, as a notebook would, on a
lake of BTCUSDT and ETHUSDT (half committed to Iceberg, half still in staging), and what it
reads is what the query function answers."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from k2.adapters.iceberg.committer import TradesCommitter
from k2.binance.generator import generate_frames
from k2_devtools.local.environment import scoped_environment
from query import handler as query_function
from tests.support.docs import code_blocks
from tests.support.events import normalize_frames
from tests.support.query import get

pytestmark = pytest.mark.integration
TRADES = 2_000  # per symbol
DAY = {"start": "2024-08-08", "end": "2024-08-09"}


@pytest.fixture
def half_committed(server_lake):
    frames = [f.frame for f in generate_frames(["BTCUSDT", "ETHUSDT"], TRADES, seed=3)]
    for number, half in enumerate([frames[: len(frames) // 2], frames[len(frames) // 2 :]]):
        normalize_frames(half, first_sequence=10**20 + number * 10**6)
        if number == 0:
            TradesCommitter(server_lake).run()
    committed: dict[str, int] = {}
    for data in (json.loads(f)["data"] for f in frames[: len(frames) // 2]):
        if data.get("e") == "trade":
            committed[data["s"]] = committed.get(data["s"], 0) + 1
    query_function.close_engines()
    with scoped_environment({"QUERY_ENGINE": "local"}):  # the query function to compare with
        yield committed


def test_every_snippet_of_the_notebook_page_runs_and_reads_the_lake(half_committed):
    snippets = code_blocks("docs/notebooks.md", "python")
    assert len(snippets) == 4
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for snippet in snippets:
            exec(compile(snippet, "docs/notebooks.md", "exec"), namespace)  # noqa: S102 - our docs
    trades, bars = namespace["trades"], namespace["bars"]
    assert trades.num_rows == TRADES  # committed and staged, each once
    assert len(namespace["frame"]) == TRADES
    status, answer = get("/ohlcv", symbols="BTCUSDT,ETHUSDT", interval="1m", **DAY)
    assert status == 200
    assert bars.to_pylist() == [_typed(row) for row in answer["rows"]]
    assert namespace["bars_pl"].height == bars.num_rows
    assert namespace["btc"] == half_committed["BTCUSDT"]  # polars: the Iceberg table alone
    assert namespace["eth"].num_rows == half_committed["ETHUSDT"]  # pyiceberg: the same
    assert namespace["minute_counts"]["trades"].to_pylist() != []
    vwaps = {row["symbol"]: row["vwap"] for row in namespace["vwap"].to_pylist()}
    assert set(vwaps) == {"BTCUSDT"}  # DuckDB over the API's BTCUSDT trades
    assert "decimal128(18, 8)" in printed.getvalue()


def _typed(row: dict) -> dict:
    """A JSON row of the query function with its values as the Arrow answer has them."""
    from datetime import datetime
    from decimal import Decimal

    typed = dict(row)
    typed["bar_start"] = datetime.fromisoformat(row["bar_start"])
    for key in ("open", "high", "low", "close", "volume", "quote_volume", "vwap"):
        typed[key] = Decimal(row[key])
    return typed
