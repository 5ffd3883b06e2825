"""Reconnect delays: exponential 1 s -> 128 s cap with full jitter, reset after stability.

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the delay is uniform in
[0, min(cap, base * 2**attempt)], which spreads reconnect storms best. A server's Retry-After
is a floor: we never come back sooner than asked (Binance bans IPs that ignore 429).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 1.0
    cap_s: float = 128.0
    stable_after_s: float = 60.0  # a connection up this long resets the sequence
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def ceiling(self) -> float:
        """Upper bound of the next delay: base, 2*base, 4*base, ... up to cap."""
        return min(self.cap_s, self.base_s * 2 ** min(self.attempt, 32))

    def next_delay(self, retry_after_s: float | None = None) -> float:
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def connection_lasted(self, seconds: float) -> None:
        """Report how long the last connection stayed up; long enough resets the backoff."""
        if seconds >= self.stable_after_s:
            self.attempt = 0
