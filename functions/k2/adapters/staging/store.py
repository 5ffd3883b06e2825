"""Staging lake on S3 with its Glue table: write partition files, register partitions.

Files are written with pyarrow and put with boto3 instead of `wr.s3.to_parquet`, because
awswrangler names dataset files with random UUIDs (a re-delivered batch would add a second
copy) and needs a pandas round trip (one Decimal object per value).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from k2.domain import schema
from k2.domain.staging import Partition, PartitionSlice, object_key, parquet_bytes

_PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}


class StagingLake:
    def __init__(
        self, s3: Any, glue: Any | None, bucket: str, prefix: str, database: str, table: str
    ) -> None:
        """`glue=None`: an endpoint without a Glue catalog; files land, nothing is registered."""
        self._s3, self._glue = s3, glue
        self._bucket, self._prefix = bucket, prefix.strip("/")
        self._database, self._table = database, table
        self._registered: set[Partition] = set()  # survives across warm invocations

    def write(self, part: PartitionSlice, batch_id: str) -> str:
        """Put one partition's file (idempotent: same batch, same key) and register it."""
        key = object_key(self._prefix, part.partition, batch_id)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=parquet_bytes(part.table))
        self._register(part.partition)
        return key

    def _register(self, partition: Partition) -> None:
        glue = self._glue
        if glue is None or partition in self._registered:
            return
        try:
            self._create_partition(glue, partition)
        except glue.exceptions.EntityNotFoundException:
            # First write of a new deployment: the table's columns come from the Avro schema,
            # so code creates it rather than a second hand-written copy in the template.
            ensure_staging_table(
                glue, self._database, self._table, f"s3://{self._bucket}/{self._prefix}/"
            )
            self._create_partition(glue, partition)
        self._registered.add(partition)

    def _create_partition(self, glue: Any, partition: Partition) -> None:
        location = f"s3://{self._bucket}/{self._prefix}/{partition.path()}/"
        result = glue.batch_create_partition(
            DatabaseName=self._database,
            TableName=self._table,
            PartitionInputList=[
                {
                    "Values": partition.values(),
                    "StorageDescriptor": {**_PARQUET_FORMAT, "Location": location},
                }
            ],
        )
        errors = [
            error
            for error in result.get("Errors", [])
            if error["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
        ]
        if errors:
            raise RuntimeError(f"Glue partition registration failed: {errors}")


def ensure_staging_table(glue: Any, database: str, table: str, location: str) -> None:
    """Create the Glue database and staging table (columns derived from the Avro schema)."""
    with suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": database})
    table_input = {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [
            {"Name": name, "Type": kind} for name, kind in schema.glue_partition_columns().items()
        ],
        "StorageDescriptor": {
            **_PARQUET_FORMAT,
            "Location": location,
            "Columns": [
                {"Name": name, "Type": kind} for name, kind in schema.glue_columns().items()
            ],
        },
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table_input)
