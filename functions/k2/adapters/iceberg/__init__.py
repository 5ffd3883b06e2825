"""The `trades` Iceberg table: its catalog, its single committer and maintenance, and reads."""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.adapters.iceberg.catalog import (
        ensure_trades_table,
        iceberg_trades_schema,
        trades_catalog,
    )
    from k2.adapters.iceberg.committer import (
        CommitReport,
        CommitterBusyError,
        ConcurrentCommitError,
        TradesCommitter,
    )
    from k2.adapters.iceberg.reads import (
        PartitionStats,
        completeness_ledger,
        partition_stats,
        read_trades,
    )

_SOURCES = {
    "ensure_trades_table": "catalog", "iceberg_trades_schema": "catalog",
    "trades_catalog": "catalog",
    "CommitReport": "committer", "CommitterBusyError": "committer",
    "ConcurrentCommitError": "committer", "TradesCommitter": "committer",
    "PartitionStats": "reads", "partition_stats": "reads", "read_trades": "reads",
    "completeness_ledger": "reads",
}  # fmt: skip
__all__ = [
    "CommitReport",
    "CommitterBusyError",
    "ConcurrentCommitError",
    "PartitionStats",
    "TradesCommitter",
    "completeness_ledger",
    "ensure_trades_table",
    "iceberg_trades_schema",
    "partition_stats",
    "read_trades",
    "trades_catalog",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
