"""Which Iceberg partitioning fits the whole market: 1,500+ symbols x years of days.

Three candidate specs for the `trades` table, each fed the same commits (every commit holds
every symbol, as a committer run over whole-market staging files does), on an embedded moto
server:
- symbol + day: identity(symbol), day(timestamp); files sorted by time (the original spec);
- day + bucket: day(timestamp), bucket(16, symbol); files sorted by symbol, time;
- day + sort: day(timestamp) only; files sorted by symbol, time (row groups prune by symbol).
Figures per candidate: seconds per commit, data files per commit (x 288 commits a day at the
5-minute schedule = files per day before compaction), bytes per trade, and the time to read
one symbol's day and every symbol's day back through pyiceberg.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import EqualTo, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform

from bench.common import write
from bench.synthetic import tradev2_rows
from k2.adapters.iceberg.catalog import iceberg_trades_schema, trades_catalog
from k2.config import LakeSettings
from k2.domain import schema
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.pipeline import LOCAL_HANDLER_ENV
from k2_devtools.local.resources import LocalStack, create_resources

SYMBOLS = [f"S{i:04d}USDT" for i in range(1_500)]
COMMITS, ROWS_PER_COMMIT = 4, 75_000
COMMITS_PER_DAY = 288  # the committer's 5-minute schedule


def candidates() -> dict[str, tuple[PartitionSpec, SortOrder]]:
    iceberg = iceberg_trades_schema()
    symbol, timestamp = (iceberg.find_field(n).field_id for n in ("symbol", "timestamp"))
    by_time = SortOrder(SortField(source_id=timestamp))
    by_symbol = SortOrder(SortField(source_id=symbol), SortField(source_id=timestamp))
    day = PartitionField(timestamp, 1001, DayTransform(), "trade_day")
    return {
        "symbol + day": (
            PartitionSpec(PartitionField(symbol, 1000, IdentityTransform(), "symbol"), day),
            by_time,
        ),
        "day + bucket(16, symbol)": (
            PartitionSpec(day, PartitionField(symbol, 1002, BucketTransform(16), "bucket")),
            by_symbol,
        ),
        "day + sort by symbol": (PartitionSpec(day), by_symbol),
    }


def commits() -> list[pa.Table]:
    """Whole-market commits, each sorted by symbol then time as the committer writes them."""
    tables = []
    for number in range(COMMITS):
        rows = tradev2_rows(ROWS_PER_COMMIT, SYMBOLS, seed=number, trades_per_second=1,
                            first_id=1_000_000 + number * ROWS_PER_COMMIT)  # fmt: skip
        order = pc.sort_indices(rows, [("symbol", "ascending"), ("timestamp", "ascending")])
        tables.append(rows.take(order).cast(schema.arrow_schema()))
    return tables


def measure(name: str, spec: PartitionSpec, order: SortOrder, data: list[pa.Table]) -> dict:
    lake = LakeSettings.from_env()
    catalog = trades_catalog(lake)
    table = catalog.create_table(
        (lake.glue_database, name.replace(" ", "_").replace("+", "").replace("(", "")
         .replace(")", "").replace(",", "")),
        schema=iceberg_trades_schema(), partition_spec=spec, sort_order=order,
        location=f"s3://{lake.bucket}/bench-partitioning/{len(name)}-{hash(name) & 0xFFFF}",
        properties={"write.parquet.compression-codec": "zstd", "format-version": "2"},
    )  # fmt: skip
    started = time.perf_counter()
    for rows in data:
        table.append(rows)
    commit_s = (time.perf_counter() - started) / len(data)
    files = table.inspect.files()
    rows_total = sum(t.num_rows for t in data)
    started = time.perf_counter()
    one_symbol = EqualTo(term=Reference("symbol"), value=literal("S0777USDT"))
    one = table.scan(row_filter=one_symbol).to_arrow()
    one_s = time.perf_counter() - started
    started = time.perf_counter()
    everything = table.scan().to_arrow()
    all_s = time.perf_counter() - started
    if (one.num_rows, everything.num_rows) != (rows_total // len(SYMBOLS), rows_total):
        raise RuntimeError(f"{name}: read back {one.num_rows} / {everything.num_rows} rows")
    result = {
        "seconds_per_commit": round(commit_s, 2),
        "files_per_commit": files.num_rows / len(data),
        "files_per_day_before_compaction": round(files.num_rows / len(data) * COMMITS_PER_DAY),
        "bytes_per_trade": round(sum(files["file_size_in_bytes"].to_pylist()) / rows_total, 1),
        "one_symbol_day_s": round(one_s, 3),
        "all_symbols_day_s": round(all_s, 3),
    }
    print(f"  {name:<26} {result['seconds_per_commit']:>6.2f} s/commit "
          f"{result['files_per_commit']:>7,.0f} files/commit "
          f"{result['files_per_day_before_compaction']:>9,} files/day "
          f"{result['bytes_per_trade']:>5.1f} B/trade  one symbol {one_s:.3f} s, "
          f"all {all_s:.3f} s")  # fmt: skip
    return result


def main() -> None:
    print(f"partitioning: {COMMITS} commits x {ROWS_PER_COMMIT:,} trades over "
          f"{len(SYMBOLS):,} symbols, one day (moto server)")  # fmt: skip
    data = commits()
    with (
        embedded_endpoint() as url,
        endpoint_environment(url),
        scoped_environment(LOCAL_HANDLER_ENV),
    ):
        create_resources(LocalStack(LakeSettings.from_env()))
        results = {name: measure(name, *candidate, data) for name, candidate in
                   candidates().items()}  # fmt: skip
    write("partitioning", {"symbols": len(SYMBOLS), "commits": COMMITS,
                           "rows_per_commit": ROWS_PER_COMMIT, "candidates": results})  # fmt: skip


if __name__ == "__main__":
    main()
