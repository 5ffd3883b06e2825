"""TradeV2: the Avro file is the single source of truth; Arrow and Glue schemas are derived here.

Nothing in the code base spells out a TradeV2 column type by hand. Add a field to
`tradev2.avsc` and the Parquet files, the Glue table and the Iceberg table follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro
import pyarrow as pa

AVRO_SCHEMA_FILE = "tradev2.avsc"

# Hive partition keys of the lake. `exchange` and `symbol` are TradeV2 fields that move from the
# file into the path (as awswrangler does); `trade_date` is the UTC date of `timestamp`.
PARTITION_KEYS: tuple[str, ...] = ("exchange", "symbol", "trade_date")


@dataclass(frozen=True)
class DecimalSpec:
    precision: int
    scale: int


@cache
def avro_schema() -> dict[str, Any]:
    """The TradeV2 Avro schema as parsed JSON (validated by fastavro on first load)."""
    text = resources.files(__package__).joinpath(AVRO_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    fastavro.parse_schema(schema)
    return schema


@cache
def parsed_avro_schema() -> Any:
    """fastavro's parsed form, for writing and validating Avro records."""
    return fastavro.parse_schema(avro_schema())


def field_names() -> list[str]:
    return [field["name"] for field in avro_schema()["fields"]]


def enum_symbols(field_name: str) -> list[str]:
    """The allowed values of an enum field, e.g. `side`."""
    field_type = _field(field_name)["type"]
    if not (isinstance(field_type, dict) and field_type.get("type") == "enum"):
        raise ValueError(f"TradeV2.{field_name} is not an enum")
    return list(field_type["symbols"])


def decimal_spec(field_name: str) -> DecimalSpec:
    field_type = _field(field_name)["type"]
    if not (isinstance(field_type, dict) and field_type.get("logicalType") == "decimal"):
        raise ValueError(f"TradeV2.{field_name} is not a decimal")
    return DecimalSpec(int(field_type["precision"]), int(field_type.get("scale", 0)))


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


def _field(name: str) -> dict[str, Any]:
    for field in avro_schema()["fields"]:
        if field["name"] == name:
            return dict(field)
    raise KeyError(f"TradeV2 has no field {name!r}")


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
