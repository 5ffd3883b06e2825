"""Keeping the `trades` table small and its bucket bounded, after each commit:
- crowded days (more than `max_files_per_partition` files) rewritten as sorted files once the
  day is closed (`closed_day_after_s` past its end): a day still trading gets a file per
  commit, and rewriting it at every commit would cost the whole day again each time;
- consumed staging files, and their ledgers, deleted after the staging retention;
- snapshots older than the retention expired, and the files only they held deleted with them
  (pyiceberg's expiry edits the metadata only); metadata JSON beyond the last
  `metadata_versions_kept` goes through the table's own properties at each commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from k2.adapters.iceberg.catalog import partitions_filter
from k2.adapters.iceberg.ledger import (
    LEDGER_PROPERTY,
    StagingLedger,
    bucket_and_key,
    delete_objects,
)
from k2.adapters.iceberg.reads import files_per_partition
from k2.config import CommitterSettings
from k2.domain import schema
from k2.domain.lake.rows import sorted_for_files


class LakeMaintenance:
    def __init__(
        self, s3: Any, bucket: str, settings: CommitterSettings, ledger: StagingLedger,
        clock: Callable[[], float],
    ) -> None:  # fmt: skip
        self._s3, self._bucket, self._settings = s3, bucket, settings
        self._ledger, self._clock = ledger, clock

    def compact(self, table: Table) -> list[str]:
        """Rewrite each closed day that has too many files as sorted files."""
        if table.current_snapshot() is None:
            return []
        closed_before = self._clock() - self._settings.closed_day_after_s - 86_400
        crowded = sorted(
            day
            for day, stats in files_per_partition(table).items()
            if stats.files > self._settings.max_files_per_partition
            and datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() < closed_before
        )
        for day in crowded:
            where = partitions_filter({day})
            rows = sorted_for_files(table.scan(row_filter=where).to_arrow())
            table.overwrite(rows.cast(schema.arrow_schema()), overwrite_filter=where,
                            snapshot_properties={"k2.compacted": day})  # fmt: skip
        return crowded

    def remove_consumed_staging(self, table: Table) -> int:
        """Delete staging files (then their ledger, then its property) once the retention
        has passed; the rows are in `trades` by then, so queries lose nothing."""
        removed = 0
        oldest_kept = self._clock() - self._settings.staging_retention_s
        for ledger_id, (created, uri) in self._ledger.ledgers(table).items():
            if created > oldest_kept:
                continue
            with suppress(self._s3.exceptions.NoSuchKey):
                keys = self._ledger.read(uri)
                delete_objects(self._s3, self._bucket, keys)
                removed += len(keys)
                self._ledger.delete(uri)
            with table.transaction() as transaction:
                transaction.remove_properties(LEDGER_PROPERTY + ledger_id)
        return removed

    def expire_snapshots(self, table: Table) -> int:
        """Expire the snapshots older than the retention (never the current one), then delete
        the files only they held; return how many. pyiceberg's expiry edits the metadata only,
        so without this every file a compaction replaced would stay on S3 for ever."""
        cutoff = datetime.fromtimestamp(self._clock() - self._settings.snapshot_retention_s, UTC)
        current = table.current_snapshot()
        old = [s for s in table.snapshots() if s.timestamp_ms < cutoff.timestamp() * 1000]
        if current is None or not any(s.snapshot_id != current.snapshot_id for s in old):
            return 0
        before = table.metadata
        table.maintenance.expire_snapshots().older_than(cutoff).commit()
        kept_ids = {s.snapshot_id for s in table.metadata.snapshots}
        expired = [s for s in before.snapshots if s.snapshot_id not in kept_ids]
        oldest_kept = min(table.metadata.snapshots, key=lambda s: s.sequence_number or 0)
        unreferenced = _files_of(table, expired, live_only=False) - _files_of(
            table, [oldest_kept], live_only=True
        )
        by_bucket: dict[str, list[str]] = {}
        for uri in unreferenced:
            bucket, key = bucket_and_key(uri)
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            delete_objects(self._s3, bucket, sorted(keys))
        return len(unreferenced)


def _files_of(table: Table, snapshots: Sequence[Snapshot], live_only: bool) -> set[str]:
    """Manifest lists, manifests and data files of `snapshots`: only the data files live in
    them if `live_only`, else also those their manifests record as deleted.

    The history is linear (one committer, no branches or rollbacks) and file names are never
    reused, so a file that the oldest kept snapshot does not hold, no later snapshot holds:
    what the expired snapshots referenced minus what the oldest kept one holds is unreachable.
    """
    files: set[str] = set()
    manifests_read: set[str] = set()
    for snapshot in snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            if manifest.manifest_path in manifests_read:
                continue
            manifests_read.add(manifest.manifest_path)
            entries = manifest.fetch_manifest_entry(table.io, discard_deleted=live_only)
            files.update(entry.data_file.file_path for entry in entries)
    return files
