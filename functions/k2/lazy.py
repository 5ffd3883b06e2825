"""Declared public surfaces that import on first use (PEP 562 module `__getattr__`).

A package lists what it offers and where each name lives; importing one of its modules never
drags in its siblings' dependencies. That matters three ways here: the `k2` CLI reads query
parameter names for its help without sqlglot and pyarrow (0.8 s); the query function imports
the DuckDB engine only when asked (its package does not ship duckdb); the connector image
holds a few k2 modules only. Type checkers see the real imports, under TYPE_CHECKING.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, sources: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `name` from `package.sources[name]`."""

    def attribute(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{sources[name]}"), name)

    return attribute
