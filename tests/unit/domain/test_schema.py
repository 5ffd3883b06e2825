"""TradeV2: one Avro file; Arrow, Parquet and Glue schemas are derived from it."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any, cast

import fastavro
import numpy as np
import pyarrow as pa
import pytest

from k2.binance.frames import parse_frames
from k2.binance.tradev2 import build_tradev2
from k2.domain import schema
from tests.support.frames import frame

pytestmark = pytest.mark.unit

SPOT_TRADE = frame("spot_trade")


def test_arrow_schema_has_every_avro_field_in_order():
    assert schema.arrow_schema().names == schema.field_names()


def test_decimals_are_18_8_which_holds_binance_extremes_exactly():
    assert schema.arrow_schema().field("price").type == pa.decimal128(18, 8)
    assert schema.arrow_schema().field("quantity").type == pa.decimal128(18, 8)
    extremes = [Decimal("0.00000001"), Decimal("100000.00000000"), Decimal("9000000000.00000000")]
    assert pa.array(extremes, pa.decimal128(18, 8)).to_pylist() == extremes


def test_timestamps_are_utc_micros_and_unions_with_null_are_nullable():
    fields = schema.arrow_schema()
    assert fields.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert not fields.field("timestamp").nullable
    assert fields.field("source_sequence").nullable
    assert fields.field("vendor_data").type == pa.map_(pa.string(), pa.string())


def test_staging_files_hold_every_tradev2_column_and_only_the_day_is_in_the_path():
    columns = schema.glue_columns()
    assert columns["price"] == "decimal(18,8)"
    assert columns["timestamp"] == "timestamp"
    assert columns["trade_conditions"] == "array<string>"
    assert columns["vendor_data"] == "map<string,string>"
    assert columns["source_sequence"] == "bigint"
    assert list(schema.glue_partition_columns()) == ["trade_date"]
    assert list(columns) == schema.field_names()


def test_enums_come_from_the_avro_file():
    assert schema.enum_symbols("side") == ["BUY", "SELL", "SELL_SHORT", "UNKNOWN"]
    assert schema.enum_symbols("asset_class") == ["equities", "crypto", "futures", "options"]
    with pytest.raises(ValueError, match="not an enum"):
        schema.enum_symbols("price")


def test_rows_built_in_arrow_are_valid_avro_records_and_round_trip():
    parsed = parse_frames([SPOT_TRADE])
    table = build_tradev2(parsed.trades, np.array([1_723_161_300_000_000]))
    records = table.to_pylist()
    for record in records:
        record["vendor_data"] = dict(record["vendor_data"])
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema.parsed_avro_schema(), records, validator=True)
    buffer.seek(0)
    (read_back,) = [cast("dict[str, Any]", record) for record in fastavro.reader(buffer)]
    assert read_back["price"] == Decimal("61837.63000000")
    assert read_back["trade_id"] == "BINANCE-3735683259"
    assert read_back["side"] == "SELL"
    assert read_back["timestamp"] == records[0]["timestamp"]
