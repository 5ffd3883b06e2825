"""The merge gate: every given report must pass, or the exit code says which did not.

    python -m scripts.quality_gate --coverage coverage.xml --junit junit.xml \\
        [--bandit bandit.json] [--pip-audit pip-audit.json] [--checkov checkov.json] \\
        [--baseline bench/baseline.json --results bench/results] [--json]

Gates (only those whose report is given are checked):
- coverage: line rate of the Cobertura XML >= --min-coverage (75%);
- tests: the JUnit XML has tests, and zero failures and errors;
- bandit: no HIGH-severity finding;
- pip-audit: no known vulnerability (pip-audit reports no severity, so every one counts), and
  no dependency it could not audit;
- checkov: no failed check of HIGH or CRITICAL severity, or of unknown severity (checkov
  leaves severity empty without a Prisma key: unknown is treated as high, not ignored);
- benchmarks: no statistically significant regression beyond 20% (scripts.performance_baseline).

Exit codes: 0 every gate passed, 1 a gate failed, 2 a report is missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scripts import performance_baseline


class ReportError(Exception):
    """A report is missing or unreadable (exit 2)."""


@dataclass
class Gate:
    name: str
    passed: bool
    detail: str


def coverage_gate(path: Path, minimum: float) -> Gate:
    rate = float(_xml(path).getroot().get("line-rate", "nan")) * 100
    if rate != rate:  # NaN: not a Cobertura report
        raise ReportError(f"{path}: no line-rate (not a Cobertura coverage report)")
    return Gate("coverage", rate >= minimum, f"{rate:.1f}% of lines (minimum {minimum:.0f}%)")


def tests_gate(path: Path) -> Gate:
    root = _xml(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {
        key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors")
    }
    passed = totals["tests"] > 0 and totals["failures"] == totals["errors"] == 0
    detail = f"{totals['tests']} tests, {totals['failures']} failures, {totals['errors']} errors"
    return Gate("tests", passed, detail)


def bandit_gate(path: Path) -> Gate:
    high = [r for r in _json(path).get("results", []) if r.get("issue_severity") == "HIGH"]
    names = sorted({f"{r['test_id']} {r['filename']}:{r['line_number']}" for r in high})
    return Gate("bandit", not high, f"{len(high)} high-severity findings" + _listed(names))


def pip_audit_gate(path: Path) -> Gate:
    """No known vulnerability, and every dependency audited: pip-audit skips a package it
    cannot look up (offline, unknown index) with only a `skip_reason`, which is no pass."""
    body = _json(path)
    dependencies = body.get("dependencies", body if isinstance(body, list) else [])
    found = sorted(f"{d['name']} {d['version']}: {v['id']}"
                   for d in dependencies for v in d.get("vulns", []))  # fmt: skip
    unaudited = sorted(d["name"] for d in dependencies if d.get("skip_reason"))
    if unaudited:
        detail = f"{len(unaudited)} of {len(dependencies)} dependencies not audited"
        return Gate("pip-audit", False, detail + _listed(unaudited))
    if not dependencies:
        return Gate("pip-audit", False, "no dependencies in the report: nothing was audited")
    return Gate("pip-audit", not found, f"{len(found)} known vulnerabilities" + _listed(found))


def checkov_gate(path: Path) -> Gate:
    body = _json(path)
    reports = body if isinstance(body, list) else [body]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    serious = [
        c for c in failed if (c.get("severity") or "UNKNOWN") in ("HIGH", "CRITICAL", "UNKNOWN")
    ]
    names = sorted({f"{c['check_id']} {c.get('resource', '')}" for c in serious})
    return Gate("checkov", not serious, f"{len(serious)} high/critical/unrated failed checks"
                + _listed(names))  # fmt: skip


def benchmark_gate(baseline: Path, results: Path) -> Gate:
    try:
        comparisons = performance_baseline.compare(
            performance_baseline.load_baseline(baseline), performance_baseline.metrics(results),
            threshold=0.20, alpha=0.05,
        )  # fmt: skip
    except performance_baseline.InputError as error:
        raise ReportError(str(error)) from error
    worse = [c.metric for c in comparisons if c.verdict == "regression"]
    return Gate("benchmarks", not worse, f"{len(worse)} significant regressions" + _listed(worse))


def _listed(names: list[str], limit: int = 5) -> str:
    if not names:
        return ""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ": " + ", ".join(names[:limit]) + more


def _xml(path: Path) -> ET.ElementTree[ET.Element]:
    try:
        return ET.parse(path)  # noqa: S314 - our own reports
    except (OSError, ET.ParseError) as error:
        raise ReportError(f"{path}: {error}") from error


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: {error}") from error


def gates(args: argparse.Namespace) -> list[Gate]:
    checks: list[Callable[[], Gate]] = []
    if args.coverage:
        checks.append(lambda: coverage_gate(args.coverage, args.min_coverage))
    if args.junit:
        checks.append(lambda: tests_gate(args.junit))
    if args.bandit:
        checks.append(lambda: bandit_gate(args.bandit))
    if args.pip_audit:
        checks.append(lambda: pip_audit_gate(args.pip_audit))
    if args.checkov:
        checks.append(lambda: checkov_gate(args.checkov))
    if args.baseline:
        checks.append(lambda: benchmark_gate(args.baseline, args.results))
    return [check() for check in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quality_gate", description="The merge gate.")
    parser.add_argument("--coverage", type=Path, help="Cobertura XML (pytest --cov-report=xml)")
    parser.add_argument("--min-coverage", type=float, default=75.0)
    parser.add_argument("--junit", type=Path, help="JUnit XML (pytest --junitxml)")
    parser.add_argument("--bandit", type=Path, help="bandit -f json output")
    parser.add_argument("--pip-audit", type=Path, help="pip-audit -f json output")
    parser.add_argument("--checkov", type=Path, help="checkov -o json output")
    parser.add_argument("--baseline", type=Path, help="bench baseline (performance_baseline)")
    parser.add_argument("--results", type=Path, default=performance_baseline.DEFAULT_RESULTS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        checked = gates(args)
    except ReportError as error:
        print(f"quality_gate: {error}", file=sys.stderr)
        return 2
    if not checked:
        print("quality_gate: no report given; nothing to check", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"passed": all(g.passed for g in checked),
                          "gates": [asdict(g) for g in checked]}))  # fmt: skip
    else:
        for gate in checked:
            print(f"{'PASS' if gate.passed else 'FAIL'}  {gate.name:<11} {gate.detail}")
    return 0 if all(g.passed for g in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
