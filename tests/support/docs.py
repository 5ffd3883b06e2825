"""Fenced code blocks of the project's Markdown documents, for tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_blocks(document: str, language: str) -> list[str]:
    """The `language` blocks of docs/`document` (or a path from the repository root)."""
    path = ROOT / document
    return [body for lang, body in _FENCE.findall(path.read_text()) if lang == language]
