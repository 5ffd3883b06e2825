"""Layout of the staging lake: Hive partitions, deterministic object names, Parquet bytes.

    <prefix>/exchange=BINANCE/symbol=BTCUSDT/trade_date=2024-08-08/<batch id>.parquet

Object names come from the Kinesis batch coordinates, so writing a re-delivered batch
overwrites the same objects instead of adding rows. Partition keys live in the path, not in
the files (the awswrangler and Athena convention). Pure: produces bytes, does no I/O.
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


@dataclass(frozen=True, order=True)
class Partition:
    exchange: str
    symbol: str
    trade_date: str  # YYYY-MM-DD, UTC date of the exchange trade time

    def path(self) -> str:
        return f"exchange={self.exchange}/symbol={self.symbol}/trade_date={self.trade_date}"

    def values(self) -> list[str]:
        return [self.exchange, self.symbol, self.trade_date]


@dataclass(frozen=True)
class PartitionSlice:
    partition: Partition
    rows: np.ndarray  # positions in the TradeV2 table this slice was cut from
    table: pa.Table  # staging file schema: partition keys removed, sorted by trade time


def split_partitions(trades: pa.Table) -> Iterator[PartitionSlice]:
    """One slice per (exchange, symbol, trade date), in partition order.

    Partition keys are worked out as integer codes (a trade date is the UTC day number of the
    trade time), so the only per-row work is integer arithmetic and one take per slice.
    """
    if trades.num_rows == 0:
        return
    micros = np.asarray(trades["timestamp"].cast(pa.int64()))
    sequence = np.asarray(trades["source_sequence"])
    exchange, exchanges = _codes(trades["exchange"])
    symbol, symbols = _codes(trades["symbol"])
    day = micros // _MICROS_PER_DAY
    first_day = int(day.min())
    keys = (exchange * len(symbols) + symbol) * (int(day.max()) - first_day + 1) + (day - first_day)
    _, example, codes = np.unique(keys, return_index=True, return_inverse=True)
    partitions = [
        Partition(exchanges[exchange[row]], symbols[symbol[row]], _utc_date(int(day[row])))
        for row in example
    ]
    file_columns = trades.select(schema.staging_file_schema().names)
    for code in sorted(range(len(partitions)), key=partitions.__getitem__):
        rows = np.flatnonzero(codes == code)
        in_file_order = rows[np.lexsort((sequence[rows], micros[rows]))]
        yield PartitionSlice(partitions[code], rows, file_columns.take(pa.array(in_file_order)))


_MICROS_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    encoded = pc.dictionary_encode(column.combine_chunks())
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary.to_pylist()


def _utc_date(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def object_key(prefix: str, partition: Partition, batch_id: str) -> str:
    return f"{prefix.strip('/')}/{partition.path()}/{batch_id}.parquet"


def parquet_bytes(table: pa.Table) -> bytes:
    """Parquet file bytes; decimals stored as int64 (precision 18 fits), zstd-compressed."""
    sink = io.BytesIO()
    pq.write_table(
        table.cast(schema.staging_file_schema()),
        sink,
        compression=PARQUET_COMPRESSION,
        store_decimal_as_integer=True,
    )
    return sink.getvalue()
