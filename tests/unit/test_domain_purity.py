"""The domain stays free of AWS: only adapters, handlers and the local runtime talk to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "k2"
DOMAIN = ["schema/__init__.py", "binance", "tradev2.py", "kpl.py", "normalize.py", "staging.py",
          "bars.py", "query", "lake"]  # fmt: skip
AWS_MODULES = {"boto3", "botocore", "awswrangler", "moto", "localstack_client",
               "aws_lambda_powertools"}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("k2.") and node.module.split(".")[1] in {"adapters", "local"}:
                roots.add("k2-infrastructure")
    return roots


@pytest.mark.parametrize("entry", DOMAIN)
def test_domain_module_imports_nothing_from_aws(entry):
    target = PACKAGE / entry
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    for path in files:
        leaked = imported_roots(path) & (AWS_MODULES | {"k2-infrastructure"})
        assert not leaked, f"{path.relative_to(PACKAGE)} imports {leaked}"
