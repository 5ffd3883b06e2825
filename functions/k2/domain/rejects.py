"""Why a frame or a Kinesis record was dead-lettered: a code to count and alarm on, beside a
detail string for people (like nautilus_trader's BinanceErrorCode). Dashboards and tests match
the code, never the wording of the detail."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    # a whole Kinesis record that could not be split into frames
    OVERSIZE_RECORD = "oversize_record"  # above Kinesis' 1 MiB: cannot be genuine
    CORRUPT_AGGREGATE = "corrupt_aggregate"  # a KPL record that does not decode
    EMPTY_RECORD = "empty_record"
    # one frame that can never become a trade
    OVERSIZE_FRAME = "oversize_frame"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    BAD_ENVELOPE = "bad_envelope"  # a combined-stream envelope without string stream/object data
    UNKNOWN_EVENT = "unknown_event"  # an event type Binance does not send on market streams
    UNRECOGNISED_FRAME = "unrecognised_frame"  # no event type and no known shape
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"  # an id below 0 or above 2**62 - 1
    BAD_TIME = "bad_time"  # not an epoch time
    IMPLAUSIBLE_TIME = "implausible_time"  # a trade time no Binance trade can have
    BAD_SYMBOL = "bad_symbol"
    STREAM_MISMATCH = "stream_mismatch"  # the envelope's stream names another symbol
    BAD_DECIMAL = "bad_decimal"  # not a decimal that fits decimal(18,8)
    NOT_POSITIVE = "not_positive"  # a price or quantity of zero
    INCONSISTENT_AGGREGATE = "inconsistent_aggregate"  # aggTrade last id below its first id
    # the same trade id twice in a batch with different content: the first lands, each other
    # version is dead-lettered beside it
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
