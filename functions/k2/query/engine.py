"""The engine a query runs on, chosen by configuration: Athena in AWS, DuckDB locally.

Both take the same Athena-dialect plan and return an Arrow table. Imports are deferred so the
Lambda package needs neither DuckDB (Athena) nor awswrangler (local).
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa

from k2.config import QuerySettings
from k2.query.plan import Plan


class QueryTimeoutError(TimeoutError):
    """The query ran past its time limit and was stopped (HTTP 504)."""


class QueryEngine(Protocol):
    def execute(self, plan: Plan, timeout_s: float) -> pa.Table: ...


def build_engine(settings: QuerySettings) -> QueryEngine:
    if settings.engine == "local":
        from k2.adapters.duckdb_engine import LocalQueryEngine

        return LocalQueryEngine(settings.lake)
    if settings.engine == "athena":
        from k2.adapters.athena_engine import AthenaQueryEngine

        return AthenaQueryEngine(settings.lake.glue_database, settings.athena_workgroup)
    raise ValueError(f"QUERY_ENGINE must be 'athena' or 'local', not {settings.engine!r}")
