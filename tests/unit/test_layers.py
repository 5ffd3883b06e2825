"""The layers depend one way: domain and wire format know no AWS, the wire format depends on the
domain and never the reverse (cryptofeed's rule: the exchange maps onto the normalized type),
the Lambda code root knows no dev tools, the connector knows no dev tools, and no two packages
import each other."""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K2 = ROOT / "functions" / "k2"
PURE = [K2 / "domain", K2 / "binance"]  # every module in these folders, present or future
AWS_MODULES = {"boto3", "botocore", "awswrangler", "moto", "localstack_client",
               "aws_lambda_powertools"}  # fmt: skip
DEV_ONLY = {"moto", "localstack_client", "k2_devtools", "k2_connector", "psutil", "click"}
LAMBDA_ROOT = ROOT / "functions"
PACKAGES = {
    "k2": K2,
    "k2_connector": ROOT / "connector" / "k2_connector",
    "k2_devtools": ROOT / "devtools" / "k2_devtools",
    "handlers": LAMBDA_ROOT,  # normalize, query, committer, soak
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports (at any depth: lazy imports count too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("folder", PURE, ids=lambda p: p.name)
def test_pure_layers_import_nothing_from_aws_or_our_adapters(folder):
    files = python_files(folder)
    assert files
    for path in files:
        leaked = roots(path) & AWS_MODULES
        ours = {m for m in imported_modules(path) if m.startswith(("k2.adapters", "k2_"))}
        assert not leaked | ours, f"{path.relative_to(ROOT)} imports {leaked | ours}"


def test_the_domain_knows_no_exchange():
    for path in python_files(K2 / "domain"):
        leaked = {m for m in imported_modules(path) if m.startswith("k2.binance")}
        assert not leaked, f"{path.relative_to(ROOT)} imports {leaked}"


def test_the_lambda_code_root_imports_no_dev_tool_connector_or_cli():
    for path in python_files(LAMBDA_ROOT):
        leaked = roots(path) & DEV_ONLY
        assert not leaked, f"{path.relative_to(ROOT)} imports {leaked}"


def test_the_connector_depends_on_k2_only():
    for path in python_files(PACKAGES["k2_connector"]):
        leaked = roots(path) & {"k2_devtools", "normalize", "query", "committer", "soak"}
        assert not leaked, f"{path.relative_to(ROOT)} imports {leaked}"


def test_no_two_packages_import_each_other():
    depends: dict[str, set[str]] = defaultdict(set)
    handler_packages = {p.name for p in LAMBDA_ROOT.iterdir() if (p / "handler.py").exists()}
    for package, folder in PACKAGES.items():
        files = [p for p in python_files(folder) if package != "handlers" or p.parts[-2]
                 in handler_packages]  # fmt: skip
        for path in files:
            found = {"handlers" if r in handler_packages else r for r in roots(path)}
            depends[package] |= (found & set(PACKAGES)) - {package}
    cycles = [(a, b) for a in depends for b in depends[a] if a in depends[b] and a < b]
    assert cycles == [], depends


SURFACES = ["k2.binance", "k2.domain.query", "k2.domain.schema", "k2.adapters.iceberg",
            "k2.adapters.staging", "k2.adapters.query"]  # fmt: skip


@pytest.mark.parametrize("package", SURFACES)
def test_every_declared_name_of_a_package_resolves_to_its_module(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(module._SOURCES), "__all__ and the sources differ"
    for name in module.__all__:
        source = importlib.import_module(f"{package}.{module._SOURCES[name]}")
        assert getattr(module, name) is getattr(source, name)
    with pytest.raises(AttributeError):
        _ = module.not_declared
