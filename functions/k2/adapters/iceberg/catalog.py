"""The `trades` Iceberg table in the Glue catalog: created on first use from the schema derived
from the Avro file, partitioned by UTC day, files sorted by symbol then trade time.

Day + sort rather than symbol + day (bench/bench_partitioning.py, 4 whole-market commits of
75,000 trades over 1,500 symbols on moto): symbol + day writes one file per symbol per commit
(1,500 files and 33 s per commit, 432,000 files a day at the 5-minute schedule, 161 bytes per
trade); day + bucket(16, symbol) 16 files and 0.46 s per commit, 12.2 bytes per trade; day +
sort 1 file and 0.20 s per commit, 288 files a day, 11.5 bytes per trade. A one-symbol day
reads in 0.13 s (symbol + day: 0.72 s, bucket: 0.08 s): row groups, sorted by symbol, are
skipped by their statistics, and compacted days' files by their manifest bounds.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    LessThan,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform

from k2.config import CommitterSettings, LakeSettings
from k2.domain import schema

# The UTC day "YYYY-MM-DD" of the trade time: the table's partition
PartitionKey = str


def trades_catalog(lake: LakeSettings) -> Catalog:
    """The Glue catalog (with an endpoint: Glue and S3 both at it, k2.config)."""
    return load_catalog("k2", **lake.catalog_properties())


def _table_properties(settings: CommitterSettings) -> dict[str, str]:
    return {
        "write.target-file-size-bytes": str(settings.target_file_bytes),
        "write.parquet.compression-codec": "zstd",
        # A 256 KiB dictionary page limit (pyiceberg's default is 2 MiB) keeps high-cardinality
        # columns such as prices and times plain, which zstd packs better: 18.7 -> 14.5 bytes
        # per trade on 1 M synthetic trades. zstd level 9 would reach 13.6 at 4x the CPU.
        "write.parquet.dict-size-bytes": str(256 * 1024),
        "format-version": "2",
        # Never let pyiceberg re-apply an append on a newer snapshot: the duplicate check was
        # made against the old one. A rejected commit is re-planned by the next run instead.
        "commit.retry.num-retries": "0",
        # Every commit writes a whole new metadata JSON; without these, all of them stay on S3.
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": str(settings.metadata_versions_kept),
    }


def ensure_trades_table(catalog: Catalog, lake: LakeSettings, settings: CommitterSettings) -> Table:
    """Load `trades`, creating it on first use from the schema derived from the Avro file:
    partitioned by day, files sorted by symbol, trade time, trade id. A table made with the
    earlier symbol + day spec is evolved to it (its old files keep their spec)."""
    identifier = (lake.glue_database, settings.table_name)
    with suppress(NoSuchTableError):
        return _partitioned_by_day(catalog.load_table(identifier))
    iceberg_schema = iceberg_trades_schema()
    symbol_id = iceberg_schema.find_field("symbol").field_id
    timestamp_id = iceberg_schema.find_field("timestamp").field_id
    sequence_id = iceberg_schema.find_field("source_sequence").field_id
    spec = PartitionSpec(PartitionField(timestamp_id, 1001, DayTransform(), "trade_day"))
    order = SortOrder(*(SortField(source_id=field) for field in
                        (symbol_id, timestamp_id, sequence_id)))  # fmt: skip
    with suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(lake.glue_database)
    try:
        return catalog.create_table(
            identifier, schema=iceberg_schema, partition_spec=spec, sort_order=order,
            location=f"s3://{lake.bucket}/{settings.warehouse_prefix}/{settings.table_name}",
            properties=_table_properties(settings),
        )  # fmt: skip
    except TableAlreadyExistsError:  # another committer created it first
        return catalog.load_table(identifier)


def _partitioned_by_day(table: Table) -> Table:
    if any(field.name == "symbol" for field in table.spec().fields):
        with table.update_spec() as update:
            update.remove_field("symbol")
    return table


def iceberg_trades_schema() -> Schema:
    """TradeV2 as an Iceberg schema, derived from the Avro file through its Arrow schema."""
    return assign_fresh_schema_ids(Catalog._convert_schema_if_needed(schema.arrow_schema()))


def partitions_of(rows: pa.Table) -> set[PartitionKey]:
    """The UTC days of the rows' trade times."""
    if rows.num_rows == 0:
        return set()
    days = pa.compute.unique(pa.compute.strftime(rows["timestamp"], format="%Y-%m-%d"))
    return set(days.to_pylist())


def partitions_filter(partitions: set[PartitionKey]) -> BooleanExpression:
    """A row filter selecting exactly these days (Iceberg prunes files by it)."""
    clauses: list[BooleanExpression] = []
    for day in sorted(partitions):
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        end = start + timedelta(days=1)
        after = GreaterThanOrEqual(term=Reference("timestamp"), value=literal(start.isoformat()))
        before = LessThan(term=Reference("timestamp"), value=literal(end.isoformat()))
        clauses.append(And(after, before))
    return clauses[0] if len(clauses) == 1 else Or(*clauses)
