"""Kinesis record payloads: the KPL aggregated record format, and plain newline-delimited frames.

KPL format (what the Kinesis Producer Library, KCL and Firehose de-aggregation understand):
    magic 0xF3 0x89 0x9A 0xC2 | protobuf AggregatedRecord | MD5 of the protobuf bytes
    AggregatedRecord: 1 repeated string partition_key_table, 2 repeated string
    explicit_hash_key_table, 3 repeated Record records
    Record: 1 uint64 partition_key_index, 2 uint64 explicit_hash_key_index, 3 bytes data,
    4 repeated Tag tags
Only the few protobuf wire types this message uses are handled, so no protobuf runtime is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16
_VARINT, _LENGTH_DELIMITED = 0, 2


class AggregationError(ValueError):
    """A record that claims to be KPL-aggregated but is corrupt; the message says how."""


def is_aggregated(payload: bytes) -> bool:
    return payload.startswith(KPL_MAGIC)


def aggregate(frames: Iterable[bytes], partition_key: str) -> bytes:
    """One KPL aggregated record carrying `frames`, all under one partition key."""
    return aggregate_keyed((partition_key, frame) for frame in frames)


def aggregate_keyed(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """One KPL aggregated record carrying (partition key, frame) entries in order; each
    distinct key is stored once in the record's key table (as the KPL does)."""
    keys: dict[str, int] = {}
    records = bytearray()
    for key, frame in entries:
        index = keys.setdefault(key, len(keys))
        record = _field(1, _VARINT, index) + _field(3, _LENGTH_DELIMITED, frame)
        records += _field(3, _LENGTH_DELIMITED, record)
    body = b"".join(_field(1, _LENGTH_DELIMITED, key.encode()) for key in keys) + records
    return KPL_MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def aggregated_size(frame_sizes: Iterable[int], partition_key: str) -> int:
    """Exact byte size `aggregate` would produce, for batching under Kinesis' 1 MiB limit."""
    entries = sum(_entry_size(0, size) for size in frame_sizes)
    return _ENVELOPE + _key_entry_size(partition_key) + entries


def pack_keyed(
    entries: Iterable[tuple[str, bytes]], max_bytes: int
) -> Iterator[list[tuple[str, bytes]]]:
    """Split (partition key, frame) entries, in order, into runs whose `aggregate_keyed` record
    is at most `max_bytes` (exact sizes; a single entry over the limit still gets its own run,
    for the caller to refuse)."""
    run: list[tuple[str, bytes]] = []
    keys: dict[str, int] = {}
    size = _ENVELOPE
    for key, frame in entries:
        index = keys.get(key)
        added = _entry_size(len(keys) if index is None else index, len(frame))
        added += _key_entry_size(key) if index is None else 0
        if run and size + added > max_bytes:
            yield run
            run, keys, size = [], {}, _ENVELOPE
            added = _entry_size(0, len(frame)) + _key_entry_size(key)
        keys.setdefault(key, len(keys))
        run.append((key, frame))
        size += added
    if run:
        yield run


_ENVELOPE = len(KPL_MAGIC) + _DIGEST_SIZE


def _key_entry_size(key: str) -> int:
    """Bytes one partition key adds to the record's key table."""
    encoded = len(key.encode())
    return 1 + _varint_size(encoded) + encoded


def _entry_size(key_index: int, frame_size: int) -> int:
    """Bytes one frame adds to an aggregated record, under the key at `key_index`."""
    record = 1 + _varint_size(key_index) + 1 + _varint_size(frame_size) + frame_size
    return 1 + _varint_size(record) + record


def deaggregate(payload: bytes) -> list[bytes]:
    """The user records inside a KPL aggregated record (raises AggregationError if corrupt)."""
    return [frame for _, frame in deaggregate_keyed(payload)]


def deaggregate_keyed(payload: bytes) -> list[tuple[str, bytes]]:
    """(partition key, data) of each user record in a KPL aggregated record."""
    body, digest = payload[len(KPL_MAGIC) : -_DIGEST_SIZE], payload[-_DIGEST_SIZE:]
    if len(payload) < len(KPL_MAGIC) + _DIGEST_SIZE:
        raise AggregationError("KPL record shorter than its header and digest")
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise AggregationError("KPL record MD5 digest mismatch")
    keys: list[str] = []
    records: list[tuple[int, bytes]] = []
    for number, value in _fields(body):
        if number not in (1, 3):
            continue  # explicit hash keys: not ours to use
        if not isinstance(value, bytes):
            raise AggregationError("KPL key or record entry is not length-delimited")
        if number == 1:
            keys.append(value.decode("utf-8", "replace"))
        else:
            records.append(_record(value))
    try:
        return [(keys[index], data) for index, data in records]
    except IndexError:
        raise AggregationError("KPL record names a partition key its table lacks") from None


def split_payload(payload: bytes) -> list[bytes]:
    """Frames in one Kinesis record: KPL-aggregated, or newline-delimited (one frame or many)."""
    return [frame for _, frame in split_payload_keyed(payload, "")]


def split_payload_keyed(payload: bytes, record_key: str) -> list[tuple[str, bytes]]:
    """(partition key, frame) of each frame in one Kinesis record: a KPL record's own keys, or
    the Kinesis record's key for every line of a plain one."""
    if is_aggregated(payload):
        return deaggregate_keyed(payload)
    return [(record_key, line) for line in payload.split(b"\n") if line.strip()]


def _record(record: bytes) -> tuple[int, bytes]:
    """(partition key index, data) of one KPL sub-record."""
    index, data = 0, None
    for number, value in _fields(record):
        if number == 1 and isinstance(value, int):
            index = value
        elif number == 3 and isinstance(value, bytes):
            data = value
    if data is None:
        raise AggregationError("KPL sub-record without data")
    return index, data


def _fields(message: bytes) -> Iterable[tuple[int, int | bytes]]:
    position, end = 0, len(message)
    while position < end:
        key, position = _read_varint(message, position)
        number, wire_type = key >> 3, key & 0x7
        if wire_type == _VARINT:
            value, position = _read_varint(message, position)
            yield number, value
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _read_varint(message, position)
            if position + length > end:
                raise AggregationError("KPL field runs past the end of the record")
            yield number, message[position : position + length]
            position += length
        else:
            raise AggregationError(f"unsupported protobuf wire type {wire_type}")


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise AggregationError("truncated or overlong varint in KPL record")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _field(number: int, wire_type: int, value: int | bytes) -> bytes:
    key = _varint((number << 3) | wire_type)
    if isinstance(value, int):
        return key + _varint(value)
    return key + _varint(len(value)) + value


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)
