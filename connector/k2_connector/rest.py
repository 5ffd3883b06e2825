"""One way to call Binance's public REST API: every request spends from the connector's one
weight budget (k2_connector.rest_budget), a 429/418 holds every caller for the server's
Retry-After, and the server's own weight count corrects ours. Backfill and the listing poll
both go through it, so neither can spend the IP's budget behind the other's back.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from k2_connector.rest_budget import RestBudget


class RateLimitedError(RuntimeError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class RestClient:
    def __init__(
        self, base_url: str, budget: RestBudget, api_key: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self._base = base_url.rstrip("/")
        self._budget = budget
        self._headers = {"X-MBX-APIKEY": api_key} if api_key else {}
        self._timeout_s = timeout_s
        self.requests = 0
        self.failures = 0

    async def get_json(self, path: str, params: dict[str, Any], weight: int) -> Any:
        """GET `path` with `params`, once the budget has room for `weight`. Raises
        RateLimitedError on 429/418 (after holding the budget), HTTPError/OSError otherwise."""
        query = f"?{urlencode(params)}" if params else ""
        request = urllib.request.Request(  # noqa: S310 - http(s) base URL from configuration
            f"{self._base}{path}{query}", headers=self._headers
        )
        async with self._budget.request(weight):
            self.requests += 1
            try:
                body, used_weight = await asyncio.to_thread(self._read, request)
            except urllib.error.HTTPError as error:
                self.failures += 1
                if error.code in (418, 429):
                    retry_after_s = float(error.headers.get("Retry-After", "60"))
                    self._budget.hold(retry_after_s)  # every caller waits, not just this one
                    raise RateLimitedError(retry_after_s) from None
                raise
        if used_weight is not None:
            self._budget.observe_used_weight(used_weight)
        return json.loads(body)

    def _read(self, request: urllib.request.Request) -> tuple[bytes, int | None]:
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            body: bytes = response.read()
            used = response.headers.get("X-MBX-USED-WEIGHT-1M")
            return body, int(used) if used and used.isdigit() else None
