"""User SQL: one read-only SELECT over `trades`, or a QueryError. Pure (sqlglot only).

The statement is parsed in Athena's (Trino) dialect and checked node by node; what runs is SQL
regenerated from the checked tree, never the user's text. The guard resolves names, not
strings: every table reference must be `trades` or a CTE *visible where it is used* - a CTE
sees only the CTEs defined before it, the query body sees them all, as SQL scopes them - so a
CTE named after an internal relation cannot smuggle that relation into an earlier CTE.
Functions come from an explicit allowlist (sqlglot's classes, plus a few Trino functions it
does not know), none of which read files, URLs or settings, or build unbounded data. Anything
else - DDL, DML, commands, settings, stacked statements, table functions, qualified names,
catalogs, files, parameters, recursion, LIMIT below zero, nesting past a depth - is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from k2.domain.query.spec import QueryError

QUERYABLE_TABLES = frozenset({"trades"})
MAX_DEPTH = 64  # nested expressions; real queries stay far below, parser bombs do not
# sqlglot's classes for the functions a trades query needs: aggregates, windows, arithmetic,
# strings, times, casts, arrays and maps of one row. Reviewed one by one: none reads outside
# the query's rows, none builds data of a size the caller picks (no sequence, repeat or pad).
ALLOWED_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    getattr(exp, name)
    for name in (
        "And", "Or", "Xor", "Case",  # operators sqlglot models as functions
        "Count", "CountIf", "Sum", "Avg", "Min", "Max", "ArgMax", "ArgMin", "AnyValue",
        "ApproxDistinct", "ApproxQuantile", "ArrayAgg", "Corr", "CovarPop", "CovarSamp",
        "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop", "LogicalAnd",
        "LogicalOr",
        "RowNumber", "Rank", "DenseRank", "PercentRank", "CumeDist", "Ntile", "Lag", "Lead",
        "FirstValue", "LastValue", "NthValue",
        "Abs", "Round", "Floor", "Ceil", "Ln", "Log", "Exp", "Pow", "Sqrt", "Sign",
        "Greatest", "Least", "Coalesce", "If", "Nullif", "Cast", "TryCast",
        "Lower", "Upper", "Length", "Substring", "Concat", "Trim", "Replace", "StrPosition",
        "Split", "StartsWith", "RegexpLike", "RegexpExtract",
        "Date", "DateAdd", "DateDiff", "TimestampTrunc", "Extract", "Year", "Month", "Day",
        "Hour", "Minute", "DayOfWeekIso", "CurrentDate", "CurrentTimestamp", "UnixToTime",
        "TimeToUnix", "TimeToStr", "StrToTime", "FromISO8601Timestamp",
        "ArrayContains", "ArraySize",
    )
)  # fmt: skip
# Trino functions sqlglot parses as anonymous calls, reviewed as side-effect free.
ALLOWED_ANONYMOUS = frozenset(
    {"date_format", "approx_percentile", "element_at", "human_readable_seconds", "typeof",
     "format_number", "to_unixtime", "from_unixtime", "round"}
)  # fmt: skip
_FORBIDDEN_NODES = (
    exp.Command, exp.Pragma, exp.Set, exp.Into, exp.Placeholder, exp.Parameter, exp.Insert,
    exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy, exp.Use,
    exp.Transaction, exp.Commit, exp.Rollback, exp.TruncateTable, exp.Describe, exp.Lateral,
)  # fmt: skip


def guard_select(sql: str) -> exp.Query:
    """The checked query tree, or QueryError naming the first thing that is not allowed."""
    if not sql.strip():
        raise QueryError("sql is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except SqlglotError as error:
        raise QueryError(f"sql could not be parsed: {_first_line(error)}") from error
    except RecursionError:
        raise QueryError(f"sql is nested too deeply (at most {MAX_DEPTH} levels)") from None
    if len(statements) != 1:
        raise QueryError("sql must be exactly one statement")
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only SELECT is allowed, not {statement.key.upper()}")
    _check(statement, frozenset(), 0)
    return statement


def _check(node: exp.Expr, visible: frozenset[str], depth: int) -> None:
    """Check `node` and everything under it; `visible` are the CTE names in scope there."""
    if depth > MAX_DEPTH:
        raise QueryError(f"sql is nested too deeply (at most {MAX_DEPTH} levels)")
    _check_node(node, visible)
    with_ = node.args.get("with_") or node.args.get("with")
    if isinstance(node, exp.Query) and isinstance(with_, exp.With):
        visible = _check_with(with_, visible, depth)
    for child in _children(node, skip=with_):
        _check(child, visible, depth + 1)


def _check_with(with_: exp.With, visible: frozenset[str], depth: int) -> frozenset[str]:
    """Each CTE body sees the CTEs defined before it; returns what the query body sees."""
    if with_.args.get("recursive"):
        raise QueryError("WITH RECURSIVE is not allowed")
    for cte in with_.expressions:
        _check(cte.this, visible, depth + 1)
        visible = visible | {cte.alias_or_name.lower()}
    return visible


def _children(node: exp.Expr, skip: object) -> Iterable[exp.Expr]:
    for value in node.args.values():
        if value is skip:
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expr):
                yield child


def _check_node(node: exp.Expr, visible: frozenset[str]) -> None:
    if isinstance(node, _FORBIDDEN_NODES):
        raise QueryError(f"{node.key.upper()} is not allowed in a query")
    if isinstance(node, exp.Select) and not node.expressions:
        raise QueryError("SELECT lists no columns")
    if isinstance(node, exp.Table):
        _check_table(node, visible)
    elif isinstance(node, exp.Anonymous):
        if node.name.lower() not in ALLOWED_ANONYMOUS:
            raise QueryError(f"function {node.name!r} is not allowed")
    elif isinstance(node, exp.Func) and type(node) not in ALLOWED_FUNCTIONS:
        name = node.sql(dialect="trino").split("(", 1)[0].strip() or node.sql_name()
        raise QueryError(f"function {name[:40]!r} is not allowed")
    elif isinstance(node, exp.Identifier) and node.name.startswith("$"):
        raise QueryError(f"{node.name!r}: parameters are not allowed")
    elif isinstance(node, (exp.Limit, exp.Offset)):
        _check_count(node)


def _check_table(table: exp.Table, visible: frozenset[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise QueryError(f"table functions are not allowed: {table.this.sql(dialect='trino')}")
    if table.args.get("db") or table.args.get("catalog"):
        raise QueryError(f"only these tables can be queried: {', '.join(QUERYABLE_TABLES)}")
    name = table.name.lower()
    if name not in QUERYABLE_TABLES and name not in visible:
        raise QueryError(
            f"table {table.name!r} cannot be queried here; allowed: {', '.join(QUERYABLE_TABLES)}"
            " (and CTEs defined before the reference)"
        )


def _check_count(clause: exp.Limit | exp.Offset) -> None:
    count = clause.expression
    if not (isinstance(count, exp.Literal) and count.is_int and int(count.this) >= 0):
        raise QueryError(f"{clause.key.upper()} must be a whole number, at least 0")


def capped(query: exp.Query, max_rows: int) -> exp.Query:
    """The query wrapped with a row cap; one extra row tells the caller it was truncated."""
    return exp.select("*").from_(query.subquery("result")).limit(max_rows + 1)


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200]
