"""Powertools metrics for the Lambda handlers: one EMF document per invocation, none when off.

`Metrics.log_metrics` prints the invocation's metrics and clears them - unless
POWERTOOLS_METRICS_DISABLED is set: then Powertools (3.37) keeps them, and once one metric has
100 values its automatic flush prints them to stdout all the same. A warm environment that
runs many invocations with metrics off (the local pipeline, which turns them off so that stdout
carries only its own results, such as `k2 soak --json`) then wrote EMF lines into that output.
Each invocation here starts with no metrics, whatever the setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Metrics

Handler = TypeVar("Handler", bound=Callable[..., Any])


def log_metrics_per_invocation(metrics: Metrics) -> Callable[[Handler], Handler]:
    """Like `@metrics.log_metrics`, and the metrics are dropped after every invocation."""

    def decorate(handler: Handler) -> Handler:
        flushing = metrics.log_metrics(handler)

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            try:
                return flushing(event, context)
            finally:
                metrics.clear_metrics()

        return invoke  # type: ignore[return-value]

    return decorate
