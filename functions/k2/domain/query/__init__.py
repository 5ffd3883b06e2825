"""Query specs, their single Athena-dialect plan, and the SQL guard. Pure: no AWS, no engine."""

from typing import TYPE_CHECKING

from k2.lazy import lazy_exports

if TYPE_CHECKING:
    from k2.domain.query.engine import QueryEngine, QueryTimeoutError
    from k2.domain.query.planner import Plan, Scope, plan
    from k2.domain.query.results import FORMATS, QueryResult, render, shape
    from k2.domain.query.spec import KINDS, PARAMETERS, QueryError, QuerySpec, parse_request
    from k2.domain.query.sql_guard import guard_select

_SOURCES = {
    "QueryEngine": "engine", "QueryTimeoutError": "engine",
    "Plan": "planner", "Scope": "planner", "plan": "planner",
    "FORMATS": "results", "QueryResult": "results", "render": "results", "shape": "results",
    "KINDS": "spec", "PARAMETERS": "spec", "QueryError": "spec", "QuerySpec": "spec",
    "parse_request": "spec",
    "guard_select": "sql_guard",
}  # fmt: skip
__all__ = [
    "FORMATS",
    "KINDS",
    "PARAMETERS",
    "Plan",
    "QueryEngine",
    "QueryError",
    "QueryResult",
    "QuerySpec",
    "QueryTimeoutError",
    "Scope",
    "guard_select",
    "parse_request",
    "plan",
    "render",
    "shape",
]
__getattr__ = lazy_exports(__name__, _SOURCES)
