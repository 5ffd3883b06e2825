"""Environment variables set for the length of a block, then restored exactly."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def scoped_environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) variables; restore the previous values afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
