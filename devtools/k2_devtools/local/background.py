"""Run a loop in a background thread for the length of a `with` block, as AWS runs an event
source mapping or a schedule beside the producers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def in_background(loop: Callable[[threading.Event], None], name: str) -> Iterator[None]:
    """Start `loop(stop)`; at the end of the block set `stop`, wait for the loop to return and
    raise, in the caller's thread, whatever the loop raised (nothing fails unseen)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop(stop)
        except BaseException as error:  # re-raised below, in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
