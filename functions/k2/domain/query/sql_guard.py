"""User SQL: one read-only SELECT over our tables, or a QueryError. Pure (sqlglot only).

The statement is parsed in Athena's (Trino) dialect and checked node by node; what runs is
SQL regenerated from the checked tree, never the user's text. Allowed: SELECT/UNION/WITH over
the allow-listed tables, with functions sqlglot knows (plus a short list it does not), none
of which read files or URLs. Everything else - DDL, DML, COPY, ATTACH, PRAGMA, SET, stacked
statements, table functions, qualified or unknown tables, parameters - is rejected.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from k2.domain.query.spec import QueryError

QUERYABLE_TABLES = frozenset({"trades"})
# Trino functions sqlglot parses as anonymous calls, reviewed as side-effect free.
ALLOWED_ANONYMOUS = frozenset(
    {"to_unixtime", "from_unixtime", "date_format", "approx_percentile", "element_at",
     "human_readable_seconds", "typeof", "format_number", "round", "bar"}
)  # fmt: skip
_FORBIDDEN_NODES = (
    exp.Command, exp.Pragma, exp.Set, exp.Into, exp.Placeholder, exp.Parameter, exp.Insert,
    exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy, exp.Use,
    exp.Transaction, exp.Commit, exp.Rollback, exp.TruncateTable, exp.Describe,
)  # fmt: skip


def guard_select(sql: str) -> exp.Query:
    """The checked query tree, or QueryError naming the first thing that is not allowed."""
    if not sql.strip():
        raise QueryError("sql is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except SqlglotError as error:
        raise QueryError(f"sql could not be parsed: {_first_line(error)}") from error
    if len(statements) != 1:
        raise QueryError("sql must be exactly one statement")
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only SELECT is allowed, not {statement.key.upper()}")
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for node in statement.walk():
        _check(node, ctes)
    return statement


def _check(node: exp.Expr, ctes: set[str]) -> None:
    if isinstance(node, _FORBIDDEN_NODES):
        raise QueryError(f"{node.key.upper()} is not allowed in a query")
    if isinstance(node, exp.Select) and not node.expressions:
        raise QueryError("SELECT lists no columns")
    if isinstance(node, exp.Table):
        _check_table(node, ctes)
    elif isinstance(node, exp.Anonymous) and node.name.lower() not in ALLOWED_ANONYMOUS:
        raise QueryError(f"function {node.name!r} is not allowed")
    elif isinstance(node, exp.Func) and type(node).__name__.lower().startswith("read"):
        raise QueryError(f"function {node.sql_name()!r} reads files and is not allowed")


def _check_table(table: exp.Table, ctes: set[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise QueryError(f"table functions are not allowed: {table.this.sql(dialect='trino')}")
    if table.args.get("db") or table.args.get("catalog"):
        raise QueryError(f"only these tables can be queried: {', '.join(QUERYABLE_TABLES)}")
    name = table.name.lower()
    if name not in QUERYABLE_TABLES and name not in ctes:
        raise QueryError(
            f"table {table.name!r} cannot be queried; allowed: {', '.join(QUERYABLE_TABLES)}"
        )


def capped(query: exp.Query, max_rows: int) -> exp.Query:
    """The query wrapped with a row cap; one extra row tells the caller it was truncated."""
    return exp.select("*").from_(query.subquery("result")).limit(max_rows + 1)


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200]
