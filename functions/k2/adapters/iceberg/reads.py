"""Reading the `trades` table back: rows (all, some columns, one symbol) and the files, rows and
bytes of each day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, EqualTo, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table

from k2.adapters import aws
from k2.adapters.iceberg.catalog import PartitionKey, ensure_trades_table, trades_catalog
from k2.adapters.iceberg.completeness import CompletenessStore
from k2.config import CommitterSettings, LakeSettings
from k2.domain import schema


def read_trades(
    lake: LakeSettings,
    settings: CommitterSettings | None = None,
    selected: Sequence[str] = ("*",),
    symbol: str | None = None,
) -> pa.Table:
    """Every row of `trades` (or the selected columns, or one symbol's rows: the files' and row
    groups' symbol bounds skip the rest); empty before the first commit."""
    chosen = settings or CommitterSettings()
    table = ensure_trades_table(trades_catalog(lake), lake, chosen)
    if table.current_snapshot() is None:
        return schema.arrow_schema().empty_table()
    row_filter = (
        EqualTo(term=Reference("symbol"), value=literal(symbol)) if symbol else AlwaysTrue()
    )
    return table.scan(row_filter=row_filter, selected_fields=tuple(selected)).to_arrow()


def completeness_ledger(lake: LakeSettings, settings: CommitterSettings | None = None) -> pa.Table:
    """The completeness ledger of every day (k2.domain.lake.completeness): what the table holds,
    per instrument and day, as id ranges."""
    chosen = settings or CommitterSettings()
    table = ensure_trades_table(trades_catalog(lake), lake, chosen)
    return CompletenessStore(aws.client("s3", lake.endpoint_url), lake.bucket, chosen).load_all(
        table
    )


@dataclass
class PartitionStats:
    day: str
    files: int
    rows: int
    bytes: int

    @property
    def bytes_per_trade(self) -> float:
        return self.bytes / self.rows if self.rows else 0.0


def partition_stats(
    lake: LakeSettings, settings: CommitterSettings | None = None
) -> list[PartitionStats]:
    """Files, rows and bytes per day of the current snapshot."""
    table = ensure_trades_table(trades_catalog(lake), lake, settings or CommitterSettings())
    if table.current_snapshot() is None:
        return []
    stats = files_per_partition(table)
    return [stats[key] for key in sorted(stats)]


def files_per_partition(table: Table) -> dict[PartitionKey, PartitionStats]:
    """Day -> files, rows and bytes in the current snapshot."""
    stats: dict[PartitionKey, PartitionStats] = {}
    for entry in table.inspect.files().to_pylist():
        day = entry["partition"]["trade_day"].isoformat()
        partition = stats.setdefault(day, PartitionStats(day, 0, 0, 0))
        partition.files += 1
        partition.rows += entry["record_count"]
        partition.bytes += entry["file_size_in_bytes"]
    return stats
