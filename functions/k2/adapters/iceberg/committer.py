"""The `trades` Iceberg table (Glue catalog, data on S3) and its single committer.

Staging files (the normalize function's idempotent Parquet) are folded into `trades` by ONE
committer at a time:
- mutual exclusion: a lease object created with S3's conditional put (If-None-Match: *);
- exactly once: the staging keys a commit consumes are listed in a ledger object, and the
  ledger is referenced by a table property set in the same Iceberg commit as the rows. A
  crash before the commit leaves only unreferenced files; the retry consumes the same keys.
  The commit is made against the snapshot the duplicate check read: if another commit
  landed meanwhile, pyiceberg's snapshot requirement rejects it (and Glue's VersionId check
  guards the metadata swap itself in AWS);
- no duplicates: rows are deduplicated on (exchange, symbol, trade_id) within the batch and
  against what the table holds for the touched partitions;
- few files: partitions (symbol, day) holding more than `max_files_per_partition` files are
  rewritten as one sorted file;
- retention: consumed staging files, and their ledgers, are deleted after a retention period;
  old snapshots are expired, and the files only they held (manifest lists, manifests, data
  files a compaction replaced) are deleted with them; metadata JSON files beyond the last
  `metadata_versions_kept` are deleted at each commit.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import orjson
import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThan,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform

from k2.adapters import aws
from k2.adapters.staging.reader import staging_dataset
from k2.config import LakeSettings
from k2.domain import schema
from k2.domain.lake.rows import TRADE_KEY, first_of_each_trade, not_in, sorted_for_files

LEDGER_PROPERTY = "k2.ledger."  # + ledger id -> "<created epoch s> <s3 uri>"


class CommitterBusyError(RuntimeError):
    """Another committer holds the lease; this run did nothing."""


class ConcurrentCommitError(RuntimeError):
    """Another commit landed while this one was prepared; nothing was committed, and the
    next run starts again from the new snapshot."""


@dataclass(frozen=True)
class CommitterSettings:
    table_name: str = "trades"
    warehouse_prefix: str = "lake"
    target_file_bytes: int = 128 * 1024 * 1024  # AWS: >= 64 MB files for Athena
    max_staging_files: int = 5_000  # per run: bounded memory and Lambda time
    max_files_per_partition: int = 4  # more: the partition is rewritten as one file
    staging_retention_s: float = 3_600.0  # consumed staging files stay queryable this long
    snapshot_retention_s: float = 7 * 86_400.0
    metadata_versions_kept: int = 100  # older *.metadata.json files are deleted at each commit
    lease_s: float = 900.0  # the scheduled function's timeout


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


def trades_catalog(lake: LakeSettings) -> Catalog:
    """The Glue catalog; with an endpoint (moto, LocalStack) both Glue and S3 point at it."""
    properties: dict[str, str] = {"type": "glue"}
    if lake.endpoint_url:
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        keys = {
            "access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        for service in ("glue", "s3"):
            properties |= {f"{service}.endpoint": lake.endpoint_url, f"{service}.region": region}
            properties |= {f"{service}.{name}": value for name, value in keys.items()}
        properties["s3.path-style-access"] = "true"
    return load_catalog("k2", **properties)


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
    partitioned by symbol and day, files sorted by trade time."""
    identifier = (lake.glue_database, settings.table_name)
    with suppress(NoSuchTableError):
        return catalog.load_table(identifier)
    iceberg_schema = iceberg_trades_schema()
    symbol_id = iceberg_schema.find_field("symbol").field_id
    timestamp_id = iceberg_schema.find_field("timestamp").field_id
    sequence_id = iceberg_schema.find_field("source_sequence").field_id
    spec = PartitionSpec(
        PartitionField(symbol_id, 1000, IdentityTransform(), "symbol"),
        PartitionField(timestamp_id, 1001, DayTransform(), "trade_day"),
    )  # fmt: skip
    order = SortOrder(SortField(source_id=timestamp_id), SortField(source_id=sequence_id))
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


def iceberg_trades_schema() -> Schema:
    """TradeV2 as an Iceberg schema, derived from the Avro file through its Arrow schema."""
    return assign_fresh_schema_ids(Catalog._convert_schema_if_needed(schema.arrow_schema()))


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

    def run(self) -> CommitReport:
        report = CommitReport()
        with self._lease():
            table = ensure_trades_table(self._catalog, self._lake, self._settings)
            consumed = self._consumed(table)
            pending = [k for k in self._staging_keys() if k not in consumed]
            pending = pending[: self._settings.max_staging_files]
            touched: set[tuple[str, str]] = set()
            if pending:
                touched = self._commit(table, pending, report)
            report.compacted_partitions = self._compact(table, touched)
            report.staging_files_removed = self._remove_consumed_staging(table)
            report.expired_files_removed = self._expire_snapshots(table)
        return report

    def _commit(
        self, table: Table, pending: list[str], report: CommitReport
    ) -> set[tuple[str, str]]:
        staged = self._read_staging(pending)
        unique = first_of_each_trade(staged)
        new = sorted_for_files(not_in(unique, self._existing_keys(table, unique)))
        report.staging_files = len(pending)
        report.staged_rows, report.new_rows = staged.num_rows, new.num_rows
        report.duplicates_skipped = staged.num_rows - new.num_rows
        ledger_id = uuid.uuid4().hex
        ledger_uri = self._write_ledger(ledger_id, pending)
        # Committed against the snapshot the duplicates were checked with: if any commit
        # landed since, pyiceberg's snapshot requirement fails and nothing is committed.
        try:
            with table.transaction() as transaction:
                if new.num_rows:
                    transaction.append(new, snapshot_properties={"k2.ledger": ledger_uri})
                created = f"{self._clock():.0f} {ledger_uri}"
                transaction.set_properties({LEDGER_PROPERTY + ledger_id: created})
                if self._before_commit:
                    self._before_commit()
        except CommitFailedException as error:  # the table moved on since this run began
            raise ConcurrentCommitError(f"commit abandoned, the table changed: {error}") from error
        snapshot = table.current_snapshot()
        report.snapshot_id = snapshot.snapshot_id if snapshot else None
        return _partitions(new)

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

    def _ledgers(self, table: Table) -> dict[str, tuple[float, str]]:
        """Ledger id -> (created, uri), from the committed table properties."""
        ledgers = {}
        for name, value in table.properties.items():
            if name.startswith(LEDGER_PROPERTY):
                created, uri = value.split(" ", 1)
                ledgers[name.removeprefix(LEDGER_PROPERTY)] = (float(created), uri)
        return ledgers

    def _consumed(self, table: Table) -> set[str]:
        consumed: set[str] = set()
        for _, uri in self._ledgers(table).values():
            with suppress(self._s3.exceptions.NoSuchKey):  # its files were already removed
                consumed.update(self._read_ledger(uri))
        return consumed

    def _write_ledger(self, ledger_id: str, keys: Sequence[str]) -> str:
        folder = f"{self._settings.warehouse_prefix}/_ledgers/{self._settings.table_name}"
        key = f"{folder}/{ledger_id}.json"
        self._s3.put_object(Bucket=self._lake.bucket, Key=key, Body=orjson.dumps(list(keys)))
        return f"s3://{self._lake.bucket}/{key}"

    def _read_ledger(self, uri: str) -> list[str]:
        parsed = urlparse(uri)
        body = self._s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        keys: list[str] = orjson.loads(body.read())
        return keys

    def _read_staging(self, keys: Sequence[str]) -> pa.Table:
        rows = staging_dataset(self._lake, keys).to_table()
        return rows.select(schema.field_names()).cast(schema.arrow_schema())

    def _existing_keys(self, table: Table, rows: pa.Table) -> pa.Table:
        """Trade keys the table already holds in the partitions `rows` touch."""
        touched = _partitions(rows)
        if not touched or table.current_snapshot() is None:
            return pa.table({name: pa.array([], pa.string()) for name in TRADE_KEY})
        scan = table.scan(row_filter=_partitions_filter(touched), selected_fields=TRADE_KEY)
        return scan.to_arrow()

    def _compact(self, table: Table, touched: set[tuple[str, str]]) -> list[str]:
        """Rewrite each touched partition that has too many files as one sorted file."""
        if not touched:
            return []
        files = _files_per_partition(table)
        crowded = sorted(
            p
            for p in touched
            if p in files and files[p].files > self._settings.max_files_per_partition
        )
        for partition in crowded:
            where = _partitions_filter({partition})
            rows = sorted_for_files(table.scan(row_filter=where).to_arrow())
            marker = {"k2.compacted": "/".join(partition)}
            table.overwrite(rows.cast(schema.arrow_schema()), overwrite_filter=where,
                            snapshot_properties=marker)  # fmt: skip
        return [f"{symbol}/{day}" for symbol, day in crowded]

    def _remove_consumed_staging(self, table: Table) -> int:
        """Delete staging files (then their ledger, then its property) once the retention
        has passed; the rows are in `trades` by then, so queries lose nothing."""
        removed = 0
        oldest_kept = self._clock() - self._settings.staging_retention_s
        for ledger_id, (created, uri) in self._ledgers(table).items():
            if created > oldest_kept:
                continue
            with suppress(self._s3.exceptions.NoSuchKey):
                keys = self._read_ledger(uri)
                self._delete(self._lake.bucket, keys)
                removed += len(keys)
                parsed = urlparse(uri)
                self._s3.delete_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
            with table.transaction() as transaction:
                transaction.remove_properties(LEDGER_PROPERTY + ledger_id)
        return removed

    def _expire_snapshots(self, table: Table) -> int:
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
            parsed = urlparse(uri)
            by_bucket.setdefault(parsed.netloc, []).append(parsed.path.lstrip("/"))
        for bucket, keys in by_bucket.items():
            self._delete(bucket, sorted(keys))
        return len(unreferenced)

    def _delete(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete objects 1,000 (DeleteObjects' limit) at a time."""
        for start in range(0, len(keys), 1000):
            objects = [{"Key": key} for key in keys[start : start + 1000]]
            self._s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


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


def _partitions(rows: pa.Table) -> set[tuple[str, str]]:
    """(symbol, UTC day) of every row."""
    if rows.num_rows == 0:
        return set()
    days = pa.compute.strftime(rows["timestamp"], format="%Y-%m-%d")
    return set(zip(rows["symbol"].to_pylist(), days.to_pylist(), strict=True))


def _partitions_filter(partitions: set[tuple[str, str]]) -> BooleanExpression:
    clauses: list[BooleanExpression] = []
    for symbol, day in sorted(partitions):
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        end = start + timedelta(days=1)
        in_symbol = EqualTo(term=Reference("symbol"), value=literal(symbol))
        after = GreaterThanOrEqual(term=Reference("timestamp"), value=literal(start.isoformat()))
        before = LessThan(term=Reference("timestamp"), value=literal(end.isoformat()))
        clauses.append(And(in_symbol, after, before))
    return clauses[0] if len(clauses) == 1 else Or(*clauses)


def read_trades(
    lake: LakeSettings,
    settings: CommitterSettings | None = None,
    selected: Sequence[str] = ("*",),
    symbol: str | None = None,
) -> pa.Table:
    """Every row of `trades` (or the selected columns, or one symbol's rows: partition
    pruning reads only its files); empty before the first commit."""
    chosen = settings or CommitterSettings()
    table = ensure_trades_table(trades_catalog(lake), lake, chosen)
    if table.current_snapshot() is None:
        return schema.arrow_schema().empty_table()
    row_filter = (
        EqualTo(term=Reference("symbol"), value=literal(symbol)) if symbol else AlwaysTrue()
    )
    return table.scan(row_filter=row_filter, selected_fields=tuple(selected)).to_arrow()


@dataclass
class PartitionStats:
    symbol: str
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
    """Files, rows and bytes per (symbol, day) partition of the current snapshot."""
    table = ensure_trades_table(trades_catalog(lake), lake, settings or CommitterSettings())
    if table.current_snapshot() is None:
        return []
    stats = _files_per_partition(table)
    return [stats[key] for key in sorted(stats)]


def _files_per_partition(table: Table) -> dict[tuple[str, str], PartitionStats]:
    """(symbol, day) -> files, rows and bytes in the current snapshot."""
    stats: dict[tuple[str, str], PartitionStats] = {}
    for entry in table.inspect.files().to_pylist():
        symbol, day = entry["partition"]["symbol"], entry["partition"]["trade_day"].isoformat()
        partition = stats.setdefault((symbol, day), PartitionStats(symbol, day, 0, 0, 0))
        partition.files += 1
        partition.rows += entry["record_count"]
        partition.bytes += entry["file_size_in_bytes"]
    return stats
