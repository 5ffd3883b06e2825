"""The staging layout: one file per batch and day whatever the symbols, sorted so a reader
looking for one symbol skips the others' row groups."""

from __future__ import annotations

import io

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from k2.adapters.kinesis.writer import frame_symbol
from k2.binance.generator import generate_frames
from k2.binance.normalize import KinesisBatch
from k2.domain import kpl
from k2.domain.records import RecordOrigin
from k2.domain.staging import ROW_GROUP_ROWS, parquet_bytes, split_partitions

pytestmark = pytest.mark.unit

SYMBOLS = [f"S{i:04d}USDT" for i in range(1_500)]


@pytest.fixture(scope="module")
def whole_market_batch():
    batch = KinesisBatch()
    keyed = [(f"spot:{frame_symbol(recorded.frame)}", recorded.frame)
             for recorded in generate_frames(SYMBOLS, 8, seed=3)]  # fmt: skip
    for number, run in enumerate(kpl.pack_keyed(keyed, 256 * 1024)):
        origin = RecordOrigin("shardId-0", str(number), 1_723_161_300_000_000)
        batch.add_record(origin, kpl.aggregate_keyed(run))
    trades = batch.normalize().trades
    assert trades.num_rows == len(SYMBOLS) * 8
    return trades


def test_a_whole_market_batch_is_one_slice_per_day(whole_market_batch):
    slices = list(split_partitions(whole_market_batch))
    days = pc.unique(pc.strftime(whole_market_batch["timestamp"], "%Y-%m-%d")).to_pylist()
    assert [part.partition.trade_date for part in slices] == sorted(days)
    assert sum(part.table.num_rows for part in slices) == whole_market_batch.num_rows


def test_rows_are_in_symbol_then_time_order(whole_market_batch):
    for part in split_partitions(whole_market_batch):
        keys = list(zip(part.table["symbol"].to_pylist(),
                        part.table["timestamp"].to_pylist(), strict=True))  # fmt: skip
        assert keys == sorted(keys)


def test_a_one_symbol_read_touches_at_most_two_row_groups(whole_market_batch):
    (part,) = split_partitions(whole_market_batch)
    file = pq.ParquetFile(io.BytesIO(parquet_bytes(part.table)))
    assert file.metadata.num_row_groups == -(-part.table.num_rows // ROW_GROUP_ROWS) > 2
    column = file.schema_arrow.get_field_index("symbol")
    for symbol in ("S0000USDT", "S0777USDT", "S1499USDT"):
        holding = [
            group
            for group in range(file.metadata.num_row_groups)
            if (stats := file.metadata.row_group(group).column(column).statistics).min
            <= symbol
            <= stats.max
        ]
        assert 1 <= len(holding) <= 2
        rows = pq.read_table(
            io.BytesIO(parquet_bytes(part.table)), filters=[("symbol", "=", symbol)]
        )
        assert rows.num_rows == 8
