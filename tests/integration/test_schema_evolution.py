"""Adding an optional field to TradeV2 is a compatible change: Avro readers of either version,
staging Parquet files of both versions and the Iceberg table all survive it."""

from __future__ import annotations

import copy
import io
from decimal import Decimal
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from k2.adapters.iceberg import ensure_trades_table, trades_catalog
from k2.config import CommitterSettings
from k2.domain import schema
from tests.support.rows import tradev2_row

pytestmark = pytest.mark.integration
NEW_FIELD = {"name": "venue_latency_us", "type": ["null", "long"], "default": None,
             "doc": "Example of a later optional field."}  # fmt: skip


def evolved_avro() -> dict:
    evolved = copy.deepcopy(schema.avro_schema())
    evolved["fields"].append(NEW_FIELD)
    return evolved


def test_avro_records_resolve_across_the_old_and_new_schema():
    old, new = schema.parsed_avro_schema(), fastavro.parse_schema(evolved_avro())
    written_old, written_new = io.BytesIO(), io.BytesIO()
    fastavro.writer(written_old, old, [tradev2_row(1)])
    fastavro.writer(written_new, new, [tradev2_row(2, venue_latency_us=850)])
    written_old.seek(0)
    written_new.seek(0)
    old_read_by_new: Any
    new_read_by_old: Any
    (old_read_by_new,) = fastavro.reader(written_old, reader_schema=new)
    (new_read_by_old,) = fastavro.reader(written_new, reader_schema=old)
    assert old_read_by_new["venue_latency_us"] is None
    assert "venue_latency_us" not in new_read_by_old
    assert new_read_by_old["price"] == Decimal("61837.63000000")


def test_parquet_files_of_both_versions_read_as_one_dataset(tmp_path):
    old_schema, new_schema = schema.arrow_schema(), schema.arrow_schema_of(evolved_avro())
    pq.write_table(pa.Table.from_pylist([tradev2_row(1)], old_schema), tmp_path / "old.parquet")
    pq.write_table(pa.Table.from_pylist([tradev2_row(2, venue_latency_us=850)], new_schema),
                   tmp_path / "new.parquet")  # fmt: skip
    rows = ds.dataset(tmp_path, schema=new_schema, format="parquet").to_table()
    by_id = {row["source_sequence"]: row for row in rows.to_pylist()}
    assert by_id[1]["venue_latency_us"] is None
    assert by_id[2]["venue_latency_us"] == 850
    old_reader = ds.dataset(tmp_path, schema=old_schema, format="parquet").to_table()
    assert old_reader.num_rows == 2  # an old reader simply does not see the new column


def test_the_iceberg_table_evolves_and_keeps_reading_old_files(server_lake):
    if not server_lake.glue_catalog:
        pytest.skip("the Iceberg table needs a Glue catalog; this endpoint has none")
    settings = CommitterSettings(table_name="trades_evolution")
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, settings)
    table.append(pa.Table.from_pylist([tradev2_row(1)], schema.arrow_schema()))

    new_schema = schema.arrow_schema_of(evolved_avro())
    with table.update_schema() as update:
        update.union_by_name(new_schema)
    table.append(pa.Table.from_pylist([tradev2_row(2, venue_latency_us=850)], new_schema))

    rows = {row["source_sequence"]: row for row in table.scan().to_arrow().to_pylist()}
    assert rows[1]["venue_latency_us"] is None
    assert rows[2]["venue_latency_us"] == 850
    assert rows[1]["price"] == rows[2]["price"] == Decimal("61837.63000000")
