"""Reconciliation counts what is missing, duplicated and unexpected per symbol."""

from __future__ import annotations

import pyarrow as pa
import pytest

from k2.domain.lake.reconcile import reconcile

pytestmark = pytest.mark.unit


def test_missing_duplicated_and_unexpected_are_counted_separately():
    expected = pa.table({"symbol": ["A"] * 4 + ["B"], "source_id": [1, 2, 3, 4, 9]})
    landed = pa.table({"symbol": ["A", "A", "A", "A", "C"], "source_sequence": [1, 2, 2, 7, 5]})
    reports = {r.symbol: r for r in reconcile(expected, landed)}
    a = reports["A"]
    assert (a.expected, a.landed_rows, a.landed_distinct) == (4, 4, 3)
    assert (a.missing, a.duplicated, a.unexpected) == (2, 1, 1)
    assert (reports["B"].missing, reports["B"].landed_rows) == (1, 0)
    assert (reports["C"].expected, reports["C"].unexpected) == (0, 1)
