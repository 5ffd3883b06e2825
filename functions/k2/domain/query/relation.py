"""The logical `trades` relation every plan reads, defined once for both engines.

It is the Iceberg table plus staging rows the committer has not folded in yet, one row per
trade (exchange, symbol, trade_id): the committed copy wins, then the first arrival. So
answers are fresh (seconds, not the commit interval) and exact (no double counting while a
staging file awaits its retention). DuckDB creates it as a view over two registered Arrow
sources; Athena gets it inlined as a subquery over the Glue tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from k2.domain import schema

COMMITTED, STAGED = "iceberg_rows", "staging_rows"  # placeholder names each engine maps


DEDUPLICATION_COLUMNS = ("exchange", "symbol", "trade_id", "ingestion_timestamp")


def trades_relation_sql(
    committed: str = COMMITTED,
    staged: str = STAGED,
    columns: Sequence[str] = (),
    held: str | None = None,
) -> str:
    """Trino-dialect SELECT for `trades` with `columns` (default: every TradeV2 column); the
    two sources are table names from configuration, the columns names from the schema.

    The committer guarantees one row per trade in the table, so only staging rows are
    deduplicated (first arrival) and dropped when the table already holds the trade: the
    big side is never sorted or windowed. `held` names the committed rows that check reads,
    when an engine can narrow them (to the staging rows' time span: a trade's time is part
    of the trade); by default all of `committed`."""
    chosen = list(columns) or schema.field_names()
    inner = ", ".join(f'"{n}"' for n in dict.fromkeys([*chosen, *DEDUPLICATION_COLUMNS]))
    outer = ", ".join(f'"{name}"' for name in chosen)
    fresh = ", ".join(f'fresh."{name}"' for name in chosen)
    return (
        f"SELECT {outer} FROM {committed} UNION ALL SELECT {fresh} FROM (SELECT {inner},"  # noqa: S608 - names from the schema and configuration
        f" row_number() OVER (PARTITION BY exchange, symbol, trade_id ORDER BY"
        f" ingestion_timestamp) AS copy FROM {staged}) AS fresh WHERE fresh.copy = 1 AND NOT"
        f" EXISTS (SELECT 1 FROM {held or committed} AS held WHERE"
        f" held.exchange = fresh.exchange AND held.symbol = fresh.symbol AND"
        f" held.trade_id = fresh.trade_id)"
    )


def source_columns(columns: Sequence[str]) -> list[str]:
    """What an engine must read from each source to build `trades` with `columns`."""
    chosen = list(columns) or schema.field_names()
    return list(dict.fromkeys([*chosen, *DEDUPLICATION_COLUMNS]))


def inline_trades(sql: str, committed: str, staged: str, columns: Sequence[str] = ()) -> str:
    """`sql` with each reference to `trades` replaced by the relation itself (Athena needs no
    view to exist: the plan carries it)."""
    tree = sqlglot.parse_one(sql, read="trino")
    relation = sqlglot.parse_one(trades_relation_sql(committed, staged, columns), read="trino")
    for table in list(tree.find_all(exp.Table)):
        if table.name.lower() == "trades" and not table.args.get("db"):
            alias = table.alias_or_name
            table.replace(
                exp.Subquery(
                    this=relation.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))
                )
            )
    return tree.sql(dialect="trino")
