"""What a query engine is: Athena in AWS, DuckDB locally (adapters implement it).

Both take the same Athena-dialect plan and return an Arrow table.
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa

from k2.domain.query.planner import Plan


class QueryTimeoutError(TimeoutError):
    """The query ran past its time limit and was stopped (HTTP 504)."""


class QueryResourceError(RuntimeError):
    """The query passed a memory or size limit (HTTP 413); the message names the limit."""


class QueryBusyError(RuntimeError):
    """No capacity to run the query now (HTTP 503); the client should retry shortly."""


class QueryEngine(Protocol):
    def execute(self, plan: Plan, timeout_s: float) -> pa.Table: ...
