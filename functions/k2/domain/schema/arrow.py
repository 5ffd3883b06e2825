"""Arrow, Parquet and Glue schemas derived from the TradeV2 Avro file."""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa

from k2.domain.schema.avro import PARTITION_KEYS, avro_schema


@cache
def arrow_schema() -> pa.Schema:
    """Arrow schema of a TradeV2 table (all fields, before partition keys are moved to the path)."""
    return arrow_schema_of(avro_schema())


def arrow_schema_of(avro: dict[str, Any]) -> pa.Schema:
    """The Arrow schema of any version of the TradeV2 record (schema evolution is tested by
    deriving an evolved schema exactly as the current one is)."""
    return pa.schema([_arrow_field(field) for field in avro["fields"]])


@cache
def staging_file_schema() -> pa.Schema:
    """Schema of the Parquet files in the lake: TradeV2 less the Hive partition keys."""
    schema = arrow_schema()
    for key in PARTITION_KEYS:
        if key in schema.names:
            schema = schema.remove(schema.get_field_index(key))
    return schema


def glue_columns() -> dict[str, str]:
    """Glue/Athena column types of the files' columns (partition keys excluded)."""
    return {field.name: glue_type(field.type) for field in staging_file_schema()}


def glue_partition_columns() -> dict[str, str]:
    return dict.fromkeys(PARTITION_KEYS, "string")


def glue_type(arrow_type: pa.DataType) -> str:
    """Hive/Athena DDL type of an Arrow type derived from the Avro schema."""
    if pa.types.is_string(arrow_type):
        return "string"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_float64(arrow_type):
        return "double"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    if pa.types.is_map(arrow_type):
        return f"map<{glue_type(arrow_type.key_type)},{glue_type(arrow_type.item_type)}>"
    raise TypeError(f"no Glue type for {arrow_type}")


def _arrow_field(avro_field: dict[str, Any]) -> pa.Field:
    avro_type = avro_field["type"]
    nullable = isinstance(avro_type, list) and "null" in avro_type
    if nullable:
        (avro_type,) = [branch for branch in avro_type if branch != "null"]
    return pa.field(avro_field["name"], _arrow_type(avro_type), nullable=nullable)


def _arrow_type(avro_type: Any) -> pa.DataType:
    if isinstance(avro_type, str):
        return _PRIMITIVES[avro_type]
    logical = avro_type.get("logicalType")
    if logical == "decimal":
        return pa.decimal128(int(avro_type["precision"]), int(avro_type.get("scale", 0)))
    if logical == "timestamp-micros":
        return pa.timestamp("us", tz="UTC")
    if logical == "timestamp-millis":
        return pa.timestamp("ms", tz="UTC")
    kind = avro_type["type"]
    if kind == "enum":
        return pa.string()
    if kind == "array":
        return pa.list_(_arrow_type(avro_type["items"]))
    if kind == "map":
        return pa.map_(pa.string(), _arrow_type(avro_type["values"]))
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise TypeError(f"unsupported Avro type {avro_type!r}")


_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "boolean": pa.bool_(),
    "double": pa.float64(),
    "float": pa.float32(),
    "bytes": pa.binary(),
}
