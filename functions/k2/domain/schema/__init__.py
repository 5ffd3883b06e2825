"""TradeV2: the Avro file is the single source of truth; Arrow and Glue schemas are derived here.

Nothing in the code base spells out a TradeV2 column type by hand. Add a field to
`tradev2.avsc` and the Parquet files, the Glue table and the Iceberg table follow. The facts
read straight from the file (avro.py) need only the standard library; the derived schemas
(arrow.py) need pyarrow, and are imported only when used.
"""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.domain.schema.arrow import (
        arrow_schema,
        arrow_schema_of,
        glue_columns,
        glue_partition_columns,
        glue_type,
        staging_file_schema,
    )
    from k2.domain.schema.avro import (
        AVRO_SCHEMA_FILE,
        PARTITION_KEYS,
        DecimalSpec,
        avro_schema,
        decimal_spec,
        enum_symbols,
        field_names,
        parsed_avro_schema,
    )

_SOURCES = {
    "arrow_schema": "arrow", "arrow_schema_of": "arrow", "glue_columns": "arrow",
    "glue_partition_columns": "arrow", "glue_type": "arrow", "staging_file_schema": "arrow",
    "AVRO_SCHEMA_FILE": "avro", "PARTITION_KEYS": "avro", "DecimalSpec": "avro",
    "avro_schema": "avro", "decimal_spec": "avro", "enum_symbols": "avro",
    "field_names": "avro", "parsed_avro_schema": "avro",
}  # fmt: skip
__all__ = [
    "AVRO_SCHEMA_FILE",
    "PARTITION_KEYS",
    "DecimalSpec",
    "arrow_schema",
    "arrow_schema_of",
    "avro_schema",
    "decimal_spec",
    "enum_symbols",
    "field_names",
    "glue_columns",
    "glue_partition_columns",
    "glue_type",
    "parsed_avro_schema",
    "staging_file_schema",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
