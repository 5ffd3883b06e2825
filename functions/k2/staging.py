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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from k2 import schema

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
    """One slice per (exchange, symbol, trade date), in partition order."""
    if trades.num_rows == 0:
        return
    dates = pc.strftime(trades["timestamp"], format="%Y-%m-%d", locale="C")
    keys = pc.binary_join_element_wise(trades["exchange"], trades["symbol"], dates, "\x1f")
    encoded = pc.dictionary_encode(keys).combine_chunks()
    codes = np.asarray(encoded.indices)
    partitions = [Partition(*key.split("\x1f")) for key in encoded.dictionary.to_pylist()]
    for code in sorted(range(len(partitions)), key=partitions.__getitem__):
        rows = np.flatnonzero(codes == code)
        part = trades.take(pa.array(rows))
        order = pc.sort_indices(
            part, sort_keys=[("timestamp", "ascending"), ("source_sequence", "ascending")]
        )
        file_table = part.take(order).select(schema.staging_file_schema().names)
        yield PartitionSlice(partitions[code], rows, file_table)


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
