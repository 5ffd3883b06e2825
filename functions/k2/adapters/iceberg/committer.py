"""The single committer of the `trades` Iceberg table (Glue catalog, data on S3).

Staging files (the normalize function's idempotent Parquet) are folded into `trades` by ONE
committer at a time:
- mutual exclusion: a lease object created with S3's conditional put (If-None-Match: *);
- exactly once: the staging keys a commit consumes are listed in a ledger (k2.adapters.iceberg
  .ledger) referenced in the same Iceberg commit as the rows. The commit is made against the
  snapshot the duplicate check read: if another commit landed meanwhile, pyiceberg's snapshot
  requirement rejects it (and Glue's VersionId check guards the metadata swap itself in AWS);
- no duplicates: rows are deduplicated on (exchange, symbol, trade_id) within the batch, and
  against the completeness ledger (k2.adapters.iceberg.completeness: the id ranges the table
  holds per instrument and day), which the same commit updates - so a commit never reads the
  table back, and its cost grows with what it adds, not with what the table holds;
- then maintenance (k2.adapters.iceberg.maintenance): compaction, staging retention, snapshot
  expiry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from k2.adapters import aws
from k2.adapters.iceberg.catalog import ensure_trades_table, partitions_of, trades_catalog
from k2.adapters.iceberg.completeness import CompletenessStore
from k2.adapters.iceberg.ledger import LEDGER_PROPERTY, StagingLedger
from k2.adapters.iceberg.maintenance import LakeMaintenance
from k2.adapters.staging.reader import staging_dataset
from k2.config import CommitterSettings, LakeSettings
from k2.domain import schema
from k2.domain.lake.completeness import fold
from k2.domain.lake.rows import first_of_each_trade, sorted_for_files


class CommitterBusyError(RuntimeError):
    """Another committer holds the lease; this run did nothing."""


class ConcurrentCommitError(RuntimeError):
    """Another commit landed while this one was prepared; nothing was committed, and the
    next run starts again from the new snapshot."""


@dataclass
class CommitReport:
    staging_files: int = 0
    staged_rows: int = 0
    new_rows: int = 0
    duplicates_skipped: int = 0
    snapshot_id: int | None = None
    compacted_partitions: list[str] = field(default_factory=list)
    staging_files_removed: int = 0
    expired_files_removed: int = 0
    staging_files_waiting: int = 0  # not consumed yet: over this run's max_staging_files
    runs: int = 1

    def add(self, later: CommitReport) -> None:
        """Fold a later run of the same drain into this report."""
        for name in ("staging_files", "staged_rows", "new_rows", "duplicates_skipped",
                     "staging_files_removed", "expired_files_removed", "runs"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.snapshot_id = later.snapshot_id or self.snapshot_id
        self.compacted_partitions += later.compacted_partitions
        self.staging_files_waiting = later.staging_files_waiting


class TradesCommitter:
    def __init__(
        self, lake: LakeSettings, settings: CommitterSettings | None = None,
        catalog: Catalog | None = None, clock: Callable[[], float] = time.time,
        before_commit: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        """`before_commit` runs after the data files are written, just before the commit
        (tests use it to crash there)."""
        self._lake, self._settings = lake, settings or CommitterSettings()
        self._catalog = catalog or trades_catalog(lake)
        self._s3 = aws.client("s3", lake.endpoint_url)
        self._clock, self._before_commit = clock, before_commit
        self._ledger = StagingLedger(self._s3, lake.bucket, self._settings)
        self._completeness = CompletenessStore(self._s3, lake.bucket, self._settings)
        self._maintenance = LakeMaintenance(
            self._s3, lake.bucket, self._settings, self._ledger, clock
        )

    def run(self) -> CommitReport:
        report = CommitReport()
        with self._lease():
            table = ensure_trades_table(self._catalog, self._lake, self._settings)
            consumed = self._ledger.consumed(table)
            pending = [k for k in self._staging_keys() if k not in consumed]
            report.staging_files_waiting = max(0, len(pending) - self._settings.max_staging_files)
            pending = pending[: self._settings.max_staging_files]
            if pending:  # a closed day is compacted by the first commit after it closes
                self._commit(table, pending, report)
                report.compacted_partitions = self._maintenance.compact(table)
            report.staging_files_removed = self._maintenance.remove_consumed_staging(table)
            report.expired_files_removed = self._maintenance.expire_snapshots(table)
        return report

    def drain(self, keep_going: Callable[[], bool] = lambda: True) -> CommitReport:
        """Runs until no staging file waits, or `keep_going()` says stop (a Lambda's remaining
        time): a backlog is folded in by repeated runs of bounded size and memory."""
        total = self.run()
        while total.staging_files_waiting and keep_going():
            total.add(self.run())
        return total

    def _commit(self, table: Table, pending: list[str], report: CommitReport) -> None:
        staged = self._read_staging(pending)
        unique = first_of_each_trade(staged)
        days = partitions_of(unique)
        replaced = self._completeness.days(table)
        folded = fold(self._completeness.load(table, days), unique)
        new = sorted_for_files(unique.filter(pa.array(folded.new)))
        completeness = self._completeness.write(folded.ledger)
        report.staging_files = len(pending)
        report.staged_rows, report.new_rows = staged.num_rows, new.num_rows
        report.duplicates_skipped = staged.num_rows - new.num_rows
        ledger_id = uuid.uuid4().hex
        ledger_uri = self._ledger.write(ledger_id, pending)
        # Committed against the snapshot the duplicates were checked with: if any commit
        # landed since, pyiceberg's snapshot requirement fails and nothing is committed.
        try:
            with table.transaction() as transaction:
                if new.num_rows:
                    transaction.append(new, snapshot_properties={"k2.ledger": ledger_uri})
                created = f"{self._clock():.0f} {ledger_uri}"
                transaction.set_properties({LEDGER_PROPERTY + ledger_id: created, **completeness})
                if self._before_commit:
                    self._before_commit()
        except CommitFailedException as error:  # the table moved on since this run began
            raise ConcurrentCommitError(f"commit abandoned, the table changed: {error}") from error
        snapshot = table.current_snapshot()
        report.snapshot_id = snapshot.snapshot_id if snapshot else None
        self._completeness.delete([replaced[day] for day in days if day in replaced])

    @contextmanager
    def _lease(self) -> Iterator[None]:
        """Hold the committer lease for the run: created only if absent (If-None-Match), taken
        over only once expired, released at the end."""
        key = f"{self._settings.warehouse_prefix}/_locks/{self._settings.table_name}-committer"
        body = orjson.dumps({"owner": uuid.uuid4().hex,
                             "expires": self._clock() + self._settings.lease_s})  # fmt: skip
        if not self._put_if_absent(key, body):
            holder = orjson.loads(
                self._s3.get_object(Bucket=self._lake.bucket, Key=key)["Body"].read()
            )
            if holder["expires"] > self._clock():
                raise CommitterBusyError(f"committer lease held until {holder['expires']:.0f}")
            self._s3.delete_object(Bucket=self._lake.bucket, Key=key)  # expired: take over
            if not self._put_if_absent(key, body):
                raise CommitterBusyError("another committer took over the expired lease first")
        try:
            yield
        finally:
            self._s3.delete_object(Bucket=self._lake.bucket, Key=key)

    def _put_if_absent(self, key: str, body: bytes) -> bool:
        try:
            self._s3.put_object(Bucket=self._lake.bucket, Key=key, Body=body, IfNoneMatch="*")
        except self._s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in {
                "PreconditionFailed",
                "ConditionalRequestConflict",
            }:
                return False
            raise
        return True

    def _staging_keys(self) -> list[str]:
        prefix = self._lake.staging_prefix.strip("/") + "/"
        paginator = self._s3.get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self._lake.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if item["Key"].endswith(".parquet")
        )

    def _read_staging(self, keys: Sequence[str]) -> pa.Table:
        rows = staging_dataset(self._lake, keys).to_table()
        return rows.select(schema.field_names()).cast(schema.arrow_schema())
