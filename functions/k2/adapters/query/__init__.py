"""The query engines: Athena in AWS (awswrangler), DuckDB over the lake locally, and the local
engine's file cache. Each engine's library is imported only when that engine is used."""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.adapters.query.athena_engine import AthenaQueryEngine, athena_sql
    from k2.adapters.query.duckdb_engine import LocalQueryEngine, to_duckdb
    from k2.adapters.query.file_cache import DataFileCache
    from k2.adapters.query.isolated import IsolatedQueryEngine, WorkerLimits
    from k2.adapters.query.shared import SharedAnswers

_SOURCES = {
    "AthenaQueryEngine": "athena_engine", "athena_sql": "athena_engine",
    "LocalQueryEngine": "duckdb_engine", "to_duckdb": "duckdb_engine",
    "DataFileCache": "file_cache",
    "IsolatedQueryEngine": "isolated", "WorkerLimits": "isolated",
    "SharedAnswers": "shared",
}  # fmt: skip
__all__ = [
    "AthenaQueryEngine",
    "DataFileCache",
    "IsolatedQueryEngine",
    "LocalQueryEngine",
    "SharedAnswers",
    "WorkerLimits",
    "athena_sql",
    "to_duckdb",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
