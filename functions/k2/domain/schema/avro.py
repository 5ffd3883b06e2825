"""The TradeV2 Avro file and the facts read straight from it (field names, enums, decimal
specs), with the standard library only: the connector validates frames against these without
pyarrow. The Arrow, Parquet and Glue schemas derived from it are in k2.domain.schema.arrow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

AVRO_SCHEMA_FILE = "tradev2.avsc"

# Hive partition keys of the staging lake: only `trade_date`, the UTC date of `timestamp`. One
# staging file per batch and day holds every instrument, sorted by (exchange, symbol, time), so
# objects per batch do not grow with symbols and row-group statistics still prune by symbol.
PARTITION_KEYS: tuple[str, ...] = ("trade_date",)


@dataclass(frozen=True)
class DecimalSpec:
    precision: int
    scale: int


@cache
def avro_schema() -> dict[str, Any]:
    """The TradeV2 Avro schema as JSON (fastavro validates it in parsed_avro_schema)."""
    text = resources.files(__package__).joinpath(AVRO_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def parsed_avro_schema() -> Any:
    """fastavro's parsed form, for writing and validating Avro records."""
    import fastavro  # only the writers need it; reading the schema's facts does not

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


def _field(name: str) -> dict[str, Any]:
    for field in avro_schema()["fields"]:
        if field["name"] == name:
            return dict(field)
    raise KeyError(f"TradeV2 has no field {name!r}")
