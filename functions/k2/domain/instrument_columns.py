"""Instrument labels of whole tables (pyarrow), for reports that must keep markets apart.

Kept apart from k2.domain.instrument, which the connector image ships without pyarrow.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from k2.domain.instrument import DEFAULT_MARKET, MARKET_BY_EXCHANGE


def instrument_labels(table: pa.Table) -> pa.Array:
    """instrument_label of every row, from its `market` (parsed frames) or `exchange`
    (TradeV2 rows); a table with neither is all spot."""
    symbols = table["symbol"].combine_chunks()
    if "market" in table.column_names:
        markets = table["market"].combine_chunks()
    elif "exchange" in table.column_names:
        exchanges = table["exchange"].combine_chunks()
        known = pa.array(list(MARKET_BY_EXCHANGE))
        markets = pc.take(
            pa.array(list(MARKET_BY_EXCHANGE.values())), pc.index_in(exchanges, known)
        )
        markets = pc.fill_null(markets, DEFAULT_MARKET)
    else:
        return symbols
    keyed = pc.binary_join_element_wise(markets, symbols, ":")
    return pc.if_else(pc.equal(markets, DEFAULT_MARKET), symbols, keyed)
