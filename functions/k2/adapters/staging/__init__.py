"""The staging lake: idempotent Parquet files per batch and partition on S3 with their Glue
table (store), the normalize function's sink that writes them and the dead letters, and
readers that see them as one dataset."""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.adapters.staging.dead_letters import S3DeadLetters
    from k2.adapters.staging.reader import read_staging, s3_filesystem, staging_dataset
    from k2.adapters.staging.sink import StagingSink, StoreOutcome
    from k2.adapters.staging.store import StagingLake, ensure_staging_table

_SOURCES = {
    "S3DeadLetters": "dead_letters",
    "read_staging": "reader", "s3_filesystem": "reader", "staging_dataset": "reader",
    "StagingSink": "sink", "StoreOutcome": "sink",
    "StagingLake": "store", "ensure_staging_table": "store",
}  # fmt: skip
__all__ = [
    "S3DeadLetters",
    "StagingLake",
    "StagingSink",
    "StoreOutcome",
    "ensure_staging_table",
    "read_staging",
    "s3_filesystem",
    "staging_dataset",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
