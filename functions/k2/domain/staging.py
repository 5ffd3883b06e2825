"""Layout of the staging lake: one file per batch and UTC day, deterministic object names.

    <prefix>/trade_date=2024-08-08/<batch id>.parquet

A batch writes one object per UTC day it touches (one, or two across midnight) however many
instruments it holds: S3 PUTs grow with batches, never with symbols x batches. Rows are sorted
by (exchange, symbol, trade time) and written in row groups of `ROW_GROUP_ROWS`, so a reader
filtering on a symbol skips the other symbols' row groups by their min/max statistics.
Object names come from the Kinesis batch coordinates, so writing a re-delivered batch
overwrites the same objects instead of adding rows. Pure: produces bytes, does no I/O.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from k2.domain import schema

PARQUET_COMPRESSION = "zstd"
# Rows per row group of a staging file: small enough that a one-symbol read skips most of a
# whole-market file, large enough that the per-group overhead (statistics, page headers) stays
# a few percent.
ROW_GROUP_ROWS = 4_096


@dataclass(frozen=True, order=True)
class Partition:
    trade_date: str  # YYYY-MM-DD, UTC date of the exchange trade time

    def path(self) -> str:
        return f"trade_date={self.trade_date}"

    def values(self) -> list[str]:
        return [self.trade_date]


@dataclass(frozen=True)
class PartitionSlice:
    partition: Partition
    rows: np.ndarray  # positions in the TradeV2 table this slice was cut from
    table: pa.Table  # staging file schema: sorted by exchange, symbol, trade time


def split_partitions(trades: pa.Table) -> Iterator[PartitionSlice]:
    """One slice per UTC trade date, in date order, each in file order.

    Sorting works on integer codes (dictionary indices of exchange and symbol, sorted so code
    order is name order; the UTC day number of the trade time), so the per-row work is integer
    arithmetic, one lexsort and one take per slice.
    """
    if trades.num_rows == 0:
        return
    micros = np.asarray(trades["timestamp"].cast(pa.int64()))
    sequence = np.asarray(trades["source_sequence"])
    exchange = _sorted_codes(trades["exchange"])
    symbol = _sorted_codes(trades["symbol"])
    day = micros // _MICROS_PER_DAY
    in_file_order = np.lexsort((sequence, micros, symbol, exchange, day))
    ordered_days = day[in_file_order]
    cuts = np.flatnonzero(np.diff(ordered_days)) + 1
    file_columns = trades.select(schema.staging_file_schema().names)
    for rows in np.split(in_file_order, cuts):
        partition = Partition(_utc_date(int(day[rows[0]])))
        yield PartitionSlice(partition, rows, file_columns.take(pa.array(rows)))


_MICROS_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


def _sorted_codes(column: pa.ChunkedArray) -> np.ndarray:
    """Per row, the rank of its value among the column's distinct values (name order)."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    rank = np.asarray(pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense"))
    return rank[np.asarray(encoded.indices, dtype=np.int64)]


def _utc_date(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def object_key(prefix: str, partition: Partition, batch_id: str) -> str:
    return f"{prefix.strip('/')}/{partition.path()}/{batch_id}.parquet"


def parquet_bytes(table: pa.Table) -> bytes:
    """Parquet file bytes; decimals stored as int64 (precision 18 fits), zstd-compressed, in
    row groups of ROW_GROUP_ROWS."""
    sink = io.BytesIO()
    pq.write_table(
        table.cast(schema.staging_file_schema()),
        sink,
        compression=PARQUET_COMPRESSION,
        store_decimal_as_integer=True,
        row_group_size=ROW_GROUP_ROWS,
    )
    return sink.getvalue()
