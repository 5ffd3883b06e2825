"""Store a normalized batch: dead letters first, then one file per partition.

Reports which Kinesis records did not land (by sequence number) instead of raising, so the
handler can answer with `batchItemFailures` for exactly those records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from k2.domain.records import DeadLetter, NormalizedBatch
from k2.domain.staging import PartitionSlice, split_partitions


class PartitionWriter(Protocol):
    def write(self, part: PartitionSlice, batch_id: str) -> str: ...


class DeadLetterWriter(Protocol):
    def write(self, letters: Sequence[DeadLetter], batch_id: str) -> str | None: ...


@dataclass
class StoreOutcome:
    keys: list[str] = field(default_factory=list)
    failed_sequence_numbers: set[str] = field(default_factory=set)
    errors: list[Exception] = field(default_factory=list)


class StagingSink:
    def __init__(self, lake: PartitionWriter, dead_letters: DeadLetterWriter) -> None:
        self._lake, self._dead_letters = lake, dead_letters

    def store(self, batch: NormalizedBatch) -> StoreOutcome:
        outcome = StoreOutcome()
        try:
            key = self._dead_letters.write(batch.dead_letters, batch.batch_id)
            if key:
                outcome.keys.append(key)
        except Exception as error:  # the records stay in Kinesis and are retried
            outcome.errors.append(error)
            outcome.failed_sequence_numbers |= {
                letter.origin.sequence_number for letter in batch.dead_letters
            }
        for part in split_partitions(batch.trades):
            try:
                outcome.keys.append(self._lake.write(part, batch.batch_id))
            except Exception as error:
                outcome.errors.append(error)
                records = set(batch.row_records[part.rows].tolist())
                outcome.failed_sequence_numbers |= {
                    batch.origins[index].sequence_number for index in records
                }
        return outcome
