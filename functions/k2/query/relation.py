"""The logical `trades` relation every plan reads, defined once for both engines.

It is the Iceberg table plus staging rows the committer has not folded in yet, one row per
trade (exchange, symbol, trade_id): the committed copy wins, then the first arrival. So
answers are fresh (seconds, not the commit interval) and exact (no double counting while a
staging file awaits its retention). DuckDB creates it as a view over two registered Arrow
sources; Athena gets it inlined as a subquery over the Glue tables.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from k2 import schema

COMMITTED, STAGED = "iceberg_rows", "staging_rows"  # placeholder names each engine maps


def trades_relation_sql(committed: str = COMMITTED, staged: str = STAGED) -> str:
    """Trino-dialect SELECT for `trades`; the two sources are table names from configuration."""
    columns = ", ".join(f'"{name}"' for name in schema.field_names())
    return (
        f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY exchange, symbol,"  # noqa: S608 - names from the schema and configuration
        f" trade_id ORDER BY layer, ingestion_timestamp) AS copy FROM (SELECT {columns}, 0 AS"
        f" layer FROM {committed} UNION ALL SELECT {columns}, 1 AS layer FROM {staged}))"
        f" WHERE copy = 1"
    )


def inline_trades(sql: str, committed: str, staged: str) -> str:
    """`sql` with each reference to `trades` replaced by the relation itself (Athena needs no
    view to exist: the plan carries it)."""
    tree = sqlglot.parse_one(sql, read="trino")
    relation = sqlglot.parse_one(trades_relation_sql(committed, staged), read="trino")
    for table in list(tree.find_all(exp.Table)):
        if table.name.lower() == "trades" and not table.args.get("db"):
            alias = table.alias_or_name
            table.replace(
                exp.Subquery(
                    this=relation.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))
                )
            )
    return tree.sql(dialect="trino")
