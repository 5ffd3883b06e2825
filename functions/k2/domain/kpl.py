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
from collections.abc import Iterable

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16
_VARINT, _LENGTH_DELIMITED = 0, 2


class AggregationError(ValueError):
    """A record that claims to be KPL-aggregated but is corrupt; the message says how."""


def is_aggregated(payload: bytes) -> bool:
    return payload.startswith(KPL_MAGIC)


def aggregate(frames: Iterable[bytes], partition_key: str) -> bytes:
    """One KPL aggregated record carrying `frames`, all under one partition key."""
    body = bytearray(_field(1, _LENGTH_DELIMITED, partition_key.encode()))
    for frame in frames:
        record = _field(1, _VARINT, 0) + _field(3, _LENGTH_DELIMITED, frame)
        body += _field(3, _LENGTH_DELIMITED, record)
    return KPL_MAGIC + bytes(body) + hashlib.md5(body, usedforsecurity=False).digest()


def aggregated_size(frame_sizes: Iterable[int], partition_key: str) -> int:
    """Exact byte size `aggregate` would produce, for batching under Kinesis' 1 MiB limit."""
    return envelope_size(partition_key) + sum(entry_size(size) for size in frame_sizes)


def envelope_size(partition_key: str) -> int:
    """Bytes of an aggregated record besides its entries: magic, key table, digest."""
    key = len(partition_key.encode())
    return len(KPL_MAGIC) + _DIGEST_SIZE + 1 + _varint_size(key) + key


def entry_size(frame_size: int) -> int:
    """Bytes one frame of `frame_size` adds to an aggregated record."""
    record = 2 + 1 + _varint_size(frame_size) + frame_size
    return 1 + _varint_size(record) + record


def deaggregate(payload: bytes) -> list[bytes]:
    """The user records inside a KPL aggregated record (raises AggregationError if corrupt)."""
    body, digest = payload[len(KPL_MAGIC) : -_DIGEST_SIZE], payload[-_DIGEST_SIZE:]
    if len(payload) < len(KPL_MAGIC) + _DIGEST_SIZE:
        raise AggregationError("KPL record shorter than its header and digest")
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise AggregationError("KPL record MD5 digest mismatch")
    frames: list[bytes] = []
    for number, value in _fields(body):
        if number == 3:
            if not isinstance(value, bytes):
                raise AggregationError("KPL record entry is not length-delimited")
            frames.append(_record_data(value))
    return frames


def split_payload(payload: bytes) -> list[bytes]:
    """Frames in one Kinesis record: KPL-aggregated, or newline-delimited (one frame or many)."""
    if is_aggregated(payload):
        return deaggregate(payload)
    return [line for line in payload.split(b"\n") if line.strip()]


def _record_data(record: bytes) -> bytes:
    for number, value in _fields(record):
        if number == 3 and isinstance(value, bytes):
            return value
    raise AggregationError("KPL sub-record without data")


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
