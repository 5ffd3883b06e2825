"""The AWS query engine: the plan on Athena through awswrangler, parameters bound server-side.

The plan's logical table `trades` becomes `"<database>"."trades"` (the view over the Iceberg
table and fresh staging rows). Values go as Athena ExecutionParameters - SQL literals that
Athena binds to the `?` placeholders - never spliced into the query text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import awswrangler as wr
import pyarrow as pa
import sqlglot
from sqlglot import exp

from k2.query.engine import QueryTimeoutError
from k2.query.plan import Plan
from k2.query.sql_guard import QUERYABLE_TABLES


class AthenaQueryEngine:
    def __init__(self, database: str, workgroup: str) -> None:
        self._database, self._workgroup = database, workgroup

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        sql = qualify(plan.sql, self._database)
        try:
            frame = wr.athena.read_sql_query(
                sql, database=self._database, workgroup=self._workgroup, ctas_approach=False,
                params=[athena_literal(value) for value in plan.params] or None,
                paramstyle="qmark", athena_query_wait_polling_delay=0.25,
                athena_cache_settings={"max_cache_seconds": 0},
            )  # fmt: skip
        except wr.exceptions.QueryFailed as error:
            if "timed out" in str(error).lower():
                raise QueryTimeoutError(str(error)) from error
            raise
        return pa.Table.from_pandas(frame, preserve_index=False)


def qualify(sql: str, database: str) -> str:
    """Point the logical tables at the Glue database (the guard allowed no other names)."""
    tree = sqlglot.parse_one(sql, read="trino")
    for table in tree.find_all(exp.Table):
        if table.name.lower() in QUERYABLE_TABLES and not table.args.get("db"):
            table.set("db", exp.to_identifier(database, quoted=True))
    return tree.sql(dialect="trino")


def athena_literal(value: Any) -> str:
    """A Python value as the SQL literal Athena binds to a `?`."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value
        return f"TIMESTAMP '{utc:%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no Athena literal for {type(value).__name__}")
