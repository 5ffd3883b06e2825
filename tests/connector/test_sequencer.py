"""Trade ids per symbol: each forwarded once, gaps found, backfill accepted once."""

from __future__ import annotations

import pytest

from k2_connector.sequencer import Gap, Sequencer, Verdict

pytestmark = pytest.mark.unit


def test_contiguous_ids_are_new_and_repeats_are_duplicates():
    seq = Sequencer()
    assert [seq.observe("BTC", i)[0] for i in (1, 2, 3)] == [Verdict.NEW] * 3
    assert seq.observe("BTC", 2) == (Verdict.DUPLICATE, None)
    assert seq.observe("ETH", 2) == (Verdict.NEW, None)  # symbols are independent
    assert seq.duplicates == 1


def test_a_jump_is_a_gap_and_backfill_fills_it_exactly_once():
    seq = Sequencer()
    seq.observe("BTC", 10)
    verdict, gap = seq.observe("BTC", 14)
    assert (verdict, gap) == (Verdict.NEW, Gap("BTC", 11, 13))
    assert seq.open_ranges("BTC") == [(11, 13)]
    assert seq.observe("BTC", 12)[0] is Verdict.BACKFILL
    assert seq.observe("BTC", 12)[0] is Verdict.DUPLICATE
    assert seq.open_ranges("BTC") == [(11, 11), (13, 13)]
    seq.observe("BTC", 11)
    seq.observe("BTC", 13)
    assert seq.open_gap_ids("BTC") == 0
    assert seq.gaps == [Gap("BTC", 11, 13)]


def test_huge_jumps_are_recorded_but_not_tracked_id_by_id():
    seq = Sequencer(max_open_gap_ids=100)
    seq.observe("BTC", 1)
    _, gap = seq.observe("BTC", 10_000)
    assert gap is not None
    assert gap.size == 9_998
    assert seq.open_gap_ids("BTC") == 0


def test_the_first_id_seen_bounds_what_was_ever_forwarded():
    sequencer = Sequencer()
    assert sequencer.first_seen("S@trade") is None
    for trade_id in (86, 87, 90):
        sequencer.observe("S@trade", trade_id)
    assert sequencer.first_seen("S@trade") == 86  # ids below 86 may be reopened as a gap
