"""The local query engine at scale: OHLCV 1m over 10,000,000 synthetic trades and a trades
page fetch, through the same plan and engine `k2 local up` serves (DuckDB over the Iceberg
table on an embedded moto server). Medians of 3 runs after a warm-up; the warm-up of the
first query is also reported on its own, as the cold run that fills the local file cache.

Alongside, in the same run and over the same data files: the do-it-yourself route, awswrangler
reading the Parquet into pandas and resampling to 1-minute bars.
"""

from __future__ import annotations

import functools
import tempfile
import time
from datetime import timedelta

from bench.common import check, peak_rss_mb, repeat, reset_peak_rss, summarize, write
from bench.synthetic import START, tradev2_rows
from k2.adapters.iceberg import ensure_trades_table, trades_catalog
from k2.adapters.query.duckdb_engine import LocalQueryEngine
from k2.config import CommitterSettings, LakeSettings
from k2.domain.query.planner import plan
from k2.domain.query.results import shape
from k2.domain.query.spec import parse_request
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.resources import LocalStack, create_resources

ROWS = 10_000_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
DAY = {"start": START.isoformat(), "end": (START + timedelta(days=1)).isoformat()}
TARGET_OHLCV_ALL_S = 1.0  # issue #9: OHLCV 1m over 10 M trades within a second
TARGET_PAGE_S = 1.0
TARGET_SPEEDUP_OVER_PANDAS = 5.0


def first_of_timed(engine: LocalQueryEngine, kind: str, params: dict[str, str]) -> float:
    return timed(engine, kind, params)[0]


def timed(engine: LocalQueryEngine, kind: str, params: dict[str, str]) -> tuple[float, int]:
    spec = parse_request(kind, params)
    started = time.perf_counter()
    result = shape(spec, engine.execute(plan(spec), timeout_s=300))
    return time.perf_counter() - started, len(result.rows)


def wrangler_ohlcv_s(lake: LakeSettings, endpoint: str) -> tuple[float, int]:
    """OHLCV 1m the usual pandas way: wr.s3.read_parquet of the table's data files for the day,
    then a per-symbol resample. Same files, same bars (empty minutes dropped, as ours).
    wrangler's defaults turn each decimal into a Python Decimal, much of its time; Arrow-backed
    columns (dtype_backend="pyarrow") measured slower still here (52 s), in pandas' groupby."""
    import awswrangler as wr  # the "aws" extra; only this comparison needs it here

    wr.config.s3_endpoint_url = endpoint
    table = trades_catalog(lake).load_table((lake.glue_database, "trades"))
    files = [task.file.file_path for task in table.scan().plan_files()]
    started = time.perf_counter()
    frame = wr.s3.read_parquet(files, columns=["symbol", "timestamp", "price", "quantity"])
    frame["price"] = frame["price"].astype("float64")
    frame["quantity"] = frame["quantity"].astype("float64")
    frame = frame.sort_values(["symbol", "timestamp"]).set_index("timestamp")
    bars = (
        frame.groupby("symbol")
        .resample("1min")
        .agg({"price": ["first", "max", "min", "last", "count"], "quantity": "sum"})
    )
    bars = bars[bars[("price", "count")] > 0]
    return time.perf_counter() - started, len(bars)


def main() -> None:
    print(f"query: local engine over {ROWS:,} synthetic trades ({len(SYMBOLS)} symbols, one day)")
    with (
        tempfile.TemporaryDirectory() as cache,  # an empty file cache: the first run is cold
        scoped_environment({"K2_QUERY_CACHE_DIR": cache}),
        embedded_endpoint() as url,
        endpoint_environment(url),
    ):
        lake = LakeSettings.from_env()
        create_resources(LocalStack(lake))
        table = ensure_trades_table(trades_catalog(lake), lake, CommitterSettings())
        started = time.perf_counter()
        table.append(tradev2_rows(ROWS, SYMBOLS, trades_per_second=30))
        print(f"  loaded into the Iceberg table in {time.perf_counter() - started:.1f} s")
        engine = LocalQueryEngine(lake)
        one = {"symbols": "BTCUSDT", "interval": "1m", **DAY}
        every = {"symbols": ",".join(SYMBOLS), "interval": "1m", **DAY}
        hour = START + timedelta(hours=6)
        page = {"symbol": "ETHUSDT", "limit": "1000", "start": hour.isoformat(),
                "end": (hour + timedelta(hours=1)).isoformat()}  # fmt: skip
        aggregate = {"sql": "SELECT symbol, count(*) AS trades, sum(quantity) AS volume "
                             "FROM trades GROUP BY symbol ORDER BY symbol"}  # fmt: skip
        measurements = {}
        for name, kind, params in [("ohlcv_1m_all_symbols", "ohlcv", every),
                                   ("ohlcv_1m_one_symbol", "ohlcv", one),
                                   ("trades_page_1000", "trades", page),
                                   ("sql_count_by_symbol", "sql", aggregate)]:  # fmt: skip
            reset_peak_rss()
            cold_s = timed(engine, kind, params)[0]  # also warms the catalog and page cache
            samples = repeat(3, functools.partial(first_of_timed, engine, kind, params))
            rows = timed(engine, kind, params)[1]
            measurements[name] = summarize(samples, "lower") | {
                "rows_returned": rows,
                "first_run_s": round(cold_s, 3),
                "peak_rss_mb": peak_rss_mb(),
            }
            print(f"  {name}: median {measurements[name]['median']:.2f} s ({rows:,} rows; "
                  f"first run {cold_s:.2f} s)")  # fmt: skip
        reset_peak_rss()
        wrangler_s, wrangler_bars = wrangler_ohlcv_s(lake, url)
        wrangler_rss = peak_rss_mb()
    ours_s = measurements["ohlcv_1m_all_symbols"]["median"]
    print(f"  awswrangler + pandas resample, same files: {wrangler_s:.2f} s "
          f"({wrangler_bars:,} bars, peak RSS {wrangler_rss:,.0f} MB): "
          f"ours is {wrangler_s / ours_s:.1f}x faster")  # fmt: skip
    results = {
        "rows": ROWS,
        "symbols": len(SYMBOLS),
        "queries": measurements,
        "awswrangler_pandas_ohlcv_1m": {
            "seconds": round(wrangler_s, 3),
            "bars": wrangler_bars,
            "peak_rss_mb": wrangler_rss,
            "ours_faster_by": round(wrangler_s / ours_s, 2),
            "same_bars_as_ours": wrangler_bars
            == measurements["ohlcv_1m_all_symbols"]["rows_returned"],
        },
        "checks": {
            "ohlcv_1m_all_symbols_s": check(
                "OHLCV 1m over 10 M trades (s)",
                measurements["ohlcv_1m_all_symbols"]["median"],
                TARGET_OHLCV_ALL_S,
                higher_is_better=False,
            ),
            "ohlcv_vs_awswrangler_pandas": check(
                "OHLCV speed-up over awswrangler + pandas (x)",
                wrangler_s / ours_s,
                TARGET_SPEEDUP_OVER_PANDAS,
                higher_is_better=True,
            ),
            "trades_page_s": check(
                "trades page of 1,000 (s)",
                measurements["trades_page_1000"]["median"],
                TARGET_PAGE_S,
                higher_is_better=False,
            ),
        },
    }
    write("query", results)


if __name__ == "__main__":
    main()
