"""Where the completeness ledger (k2.domain.lake.completeness) lives: one Parquet object per
UTC day holding every instrument's id ranges for that day, named by a table property that the
committer sets in the same Iceberg commit as the rows. A crash before the commit leaves an
unreferenced object and the old property: ledger and table never disagree.

A day the table holds rows of but no ledger for (a table from before the ledger) is ledgered
once from its rows, so the duplicate check stays exact across the upgrade.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.table import Table

from k2.adapters.iceberg.catalog import partitions_filter
from k2.adapters.iceberg.ledger import bucket_and_key, read_object
from k2.config import CommitterSettings
from k2.domain.lake.completeness import LEDGER_SCHEMA, fold

COMPLETENESS_PROPERTY = "k2.completeness."  # + "YYYY-MM-DD" -> s3 URI of that day's ledger
_LEDGERED_COLUMNS = ("exchange", "symbol", "timestamp", "source_sequence")


class CompletenessStore:
    def __init__(self, s3: Any, bucket: str, settings: CommitterSettings) -> None:
        self._s3, self._bucket = s3, bucket
        self._folder = f"{settings.warehouse_prefix}/_completeness/{settings.table_name}"

    def days(self, table: Table) -> dict[str, str]:
        """Ledgered day -> its object's URI, from the committed table properties."""
        return {
            name.removeprefix(COMPLETENESS_PROPERTY): uri
            for name, uri in table.properties.items()
            if name.startswith(COMPLETENESS_PROPERTY)
        }

    def load(self, table: Table, days: set[str]) -> pa.Table:
        """The ledger rows of these days (ledgered from the table's rows where missing)."""
        known = self.days(table)
        parts = [self._read(known[day]) if day in known else self._from_rows(table, day)
                 for day in sorted(days)]  # fmt: skip
        return pa.concat_tables([LEDGER_SCHEMA.empty_table(), *parts])

    def load_all(self, table: Table) -> pa.Table:
        return self.load(table, set(self.days(table)))

    def write(self, ledger: pa.Table) -> dict[str, str]:
        """Store each day's rows as a new object; the table properties that name them."""
        properties = {}
        for day in sorted(set(ledger["trade_date"].to_pylist())):
            rows = ledger.filter(pc.equal(ledger["trade_date"], day))
            key = f"{self._folder}/trade_date={day}/{uuid.uuid4().hex}.parquet"
            sink = io.BytesIO()
            pq.write_table(rows, sink, compression="zstd")
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=sink.getvalue())
            properties[COMPLETENESS_PROPERTY + day] = f"s3://{self._bucket}/{key}"
        return properties

    def delete(self, uris: list[str]) -> None:
        """Remove ledger objects a commit replaced (best effort: an orphan costs only bytes)."""
        for uri in uris:
            bucket, key = bucket_and_key(uri)
            self._s3.delete_object(Bucket=bucket, Key=key)

    def _read(self, uri: str) -> pa.Table:
        return pq.read_table(io.BytesIO(read_object(self._s3, uri))).cast(LEDGER_SCHEMA)

    def _from_rows(self, table: Table, day: str) -> pa.Table:
        if table.current_snapshot() is None:
            return LEDGER_SCHEMA.empty_table()
        rows = table.scan(row_filter=partitions_filter({day}),
                          selected_fields=_LEDGERED_COLUMNS).to_arrow()  # fmt: skip
        return fold(LEDGER_SCHEMA.empty_table(), rows).ledger
