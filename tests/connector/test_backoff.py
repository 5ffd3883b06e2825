"""Reconnect backoff: 1, 2, 4, ... capped at 128 s, full jitter, reset after a stable connection."""

from __future__ import annotations

import random

import pytest

from k2_connector.backoff import Backoff

pytestmark = pytest.mark.unit


def test_ceilings_double_from_one_second_and_cap_at_128():
    backoff = Backoff(rng=random.Random(1))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling())
        backoff.next_delay()
    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 128, 128]


def test_delays_are_jittered_within_the_ceiling():
    delays = []
    for seed in range(200):
        backoff = Backoff(rng=random.Random(seed), attempt=3)
        delays.append(backoff.next_delay())
    assert all(0 <= d <= 8 for d in delays)
    assert max(delays) > 6
    assert min(delays) < 2  # full jitter spreads over the whole range


def test_retry_after_is_a_floor():
    backoff = Backoff(rng=random.Random(3))
    assert backoff.next_delay(retry_after_s=30) >= 30


def test_reset_only_after_a_stable_connection():
    backoff = Backoff(rng=random.Random(4), stable_after_s=60, attempt=5)
    backoff.connection_lasted(5)
    assert backoff.ceiling() == 32
    backoff.connection_lasted(61)
    assert backoff.ceiling() == 1
