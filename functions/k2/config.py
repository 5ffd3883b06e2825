"""Names and settings shared by the handlers, the local runtime and the SAM template.

Lambda functions read them from environment variables that template.yaml sets; the local
runtime sets the same variables, so handlers run unchanged in both places.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_STREAM_NAME = "k2-trades"
DEFAULT_LAKE_BUCKET = "k2-lake"
DEFAULT_GLUE_DATABASE = "k2"
DEFAULT_STAGING_TABLE = "trades_staging"
DEFAULT_STAGING_PREFIX = "staging/trades"
DEFAULT_DEAD_LETTER_PREFIX = "dead-letter/normalize"
DEFAULT_FAILURE_QUEUE = "k2-normalize-failures"


@dataclass(frozen=True)
class MappingSettings:
    """The normalize function's Kinesis event source mapping. The defaults are template.yaml's
    parameter defaults (a test keeps them equal), so local runs behave like a deployment."""

    batch_size: int = 100
    batching_window_s: float = 5.0
    max_retry_attempts: int = 10
    max_record_age_s: float = 86_400.0
    bisect_on_error: bool = True


@dataclass(frozen=True)
class LakeSettings:
    bucket: str
    staging_prefix: str
    dead_letter_bucket: str
    dead_letter_prefix: str
    glue_database: str
    staging_table: str
    endpoint_url: str | None
    # False on endpoints without a Glue API (LocalStack community): files still land in S3,
    # partitions are not registered. Set GLUE_CATALOG=off; never silently skipped.
    glue_catalog: bool = True

    @property
    def staging_location(self) -> str:
        return f"s3://{self.bucket}/{self.staging_prefix.strip('/')}/"

    @classmethod
    def from_env(cls) -> LakeSettings:
        bucket = os.environ.get("LAKE_BUCKET", DEFAULT_LAKE_BUCKET)
        return cls(
            bucket=bucket,
            staging_prefix=os.environ.get("STAGING_PREFIX", DEFAULT_STAGING_PREFIX),
            dead_letter_bucket=os.environ.get("DEAD_LETTER_BUCKET", bucket),
            dead_letter_prefix=os.environ.get("DEAD_LETTER_PREFIX", DEFAULT_DEAD_LETTER_PREFIX),
            glue_database=os.environ.get("GLUE_DATABASE", DEFAULT_GLUE_DATABASE),
            staging_table=os.environ.get("STAGING_TABLE", DEFAULT_STAGING_TABLE),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            glue_catalog=os.environ.get("GLUE_CATALOG", "on").lower() not in {"off", "0", "false"},
        )

    def catalog_properties(self) -> dict[str, str]:
        """pyiceberg's Glue catalog properties for this lake: in AWS just the type; with an
        endpoint (moto, LocalStack) Glue and S3 both point at it, with the environment's
        credentials and region, and path-style S3 addressing."""
        properties: dict[str, str] = {"type": "glue"}
        if not self.endpoint_url:
            return properties
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        keys = {
            "access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        for service in ("glue", "s3"):
            properties |= {f"{service}.endpoint": self.endpoint_url, f"{service}.region": region}
            properties |= {f"{service}.{name}": value for name, value in keys.items()}
        properties["s3.path-style-access"] = "true"
        return properties

    def as_env(self) -> dict[str, str]:
        """The environment a handler needs to find these resources."""
        env = {
            "LAKE_BUCKET": self.bucket,
            "STAGING_PREFIX": self.staging_prefix,
            "DEAD_LETTER_BUCKET": self.dead_letter_bucket,
            "DEAD_LETTER_PREFIX": self.dead_letter_prefix,
            "GLUE_DATABASE": self.glue_database,
            "STAGING_TABLE": self.staging_table,
            "GLUE_CATALOG": "on" if self.glue_catalog else "off",
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env


@dataclass(frozen=True)
class CommitterSettings:
    """The Iceberg committer's budget and retention (one committer at a time)."""

    table_name: str = "trades"
    warehouse_prefix: str = "lake"
    target_file_bytes: int = 128 * 1024 * 1024  # AWS: >= 64 MB files for Athena
    max_staging_files: int = 5_000  # per run: bounded memory and Lambda time
    max_files_per_partition: int = 4  # more, once the day is closed: rewritten as sorted files
    closed_day_after_s: float = 3_600.0  # a day takes no more trades this long after its end
    staging_retention_s: float = 3_600.0  # consumed staging files stay queryable this long
    snapshot_retention_s: float = 7 * 86_400.0
    metadata_versions_kept: int = 100  # older *.metadata.json files are deleted at each commit
    lease_s: float = 900.0  # the scheduled function's timeout


@dataclass(frozen=True)
class QuerySettings:
    """The query function's configuration (template.yaml sets these variables)."""

    lake: LakeSettings
    engine: str = "athena"  # or "local": DuckDB over the lake, for `k2 local up` / `k2 query`
    athena_workgroup: str = "primary"
    timeout_s: float = 25.0  # under the function URL's 30 s
    # local engine: queries in this many worker processes, each under a memory limit (0: in
    # the caller's process, as a one-shot `k2 query` does)
    workers: int = 0
    worker_memory_mb: int = 3_072

    @classmethod
    def from_env(cls) -> QuerySettings:
        return cls(
            lake=LakeSettings.from_env(),
            engine=os.environ.get("QUERY_ENGINE", "athena"),
            athena_workgroup=os.environ.get("ATHENA_WORKGROUP", "primary"),
            timeout_s=float(os.environ.get("QUERY_TIMEOUT_SECONDS", "25")),
            workers=int(os.environ.get("QUERY_WORKERS", "0")),
            worker_memory_mb=int(os.environ.get("QUERY_WORKER_MEMORY_MB", "3072")),
        )
