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
from sqlglot import exp

from k2.domain.query.engine import QueryTimeoutError
from k2.domain.query.planner import Plan
from k2.domain.query.relation import inline_trades


class AthenaQueryEngine:
    def __init__(
        self,
        database: str,
        workgroup: str,
        table: str = "trades",
        staging_table: str = "trades_staging",
    ) -> None:
        self._database, self._workgroup = database, workgroup
        self._table, self._staging_table = table, staging_table

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        sql = athena_sql(plan, self._database, self._table, self._staging_table)
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


def athena_sql(plan: Plan, database: str, table: str, staging_table: str) -> str:
    """The plan with `trades` inlined over the Glue tables: the Iceberg table and the staging
    table (the guard allowed no other table names)."""
    quoted = exp.to_identifier(database, quoted=True).sql(dialect="trino")
    return inline_trades(
        plan.sql,
        committed=f"{quoted}.{exp.to_identifier(table, quoted=True).sql(dialect='trino')}",
        staged=f"{quoted}.{exp.to_identifier(staging_table, quoted=True).sql(dialect='trino')}",
        columns=plan.scope.columns,
    )


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
