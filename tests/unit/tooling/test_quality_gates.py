"""scripts/quality_gate.py and scripts/performance_baseline.py: what passes, what fails, and
that unusable input is exit 2, never a silent pass."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import performance_baseline, quality_gate

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def cobertura(tmp_path: Path, rate: float) -> Path:
    return write(tmp_path / "coverage.xml", f'<coverage line-rate="{rate}" version="7"/>')


def junit(tmp_path: Path, tests: int, failures: int = 0, errors: int = 0) -> Path:
    return write(tmp_path / "junit.xml",
                 f'<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" '
                 f'errors="{errors}" skipped="0"/></testsuites>')  # fmt: skip


def gate(*args: object) -> int:
    return quality_gate.main([str(a) for a in args])


# --- quality_gate -----------------------------------------------------------------------------


def test_the_gate_starts_as_make_coverage_starts_it(tmp_path):
    """`make coverage` once ran `python scripts/quality_gate.py`, where `from scripts import`
    fails: run the recipe's own command line, on passing reports."""
    recipe = subprocess.run(["make", "-n", "coverage"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True).stdout  # fmt: skip
    (command,) = [line for line in recipe.splitlines() if "quality_gate" in line]
    reports = {"coverage.xml": cobertura(tmp_path, 0.9), "junit.xml": junit(tmp_path, 3)}
    argv = [sys.executable] + [str(reports.get(arg, arg)) for arg in shlex.split(command)[1:]]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_coverage_at_the_minimum_passes_and_below_it_fails(tmp_path):
    assert gate("--coverage", cobertura(tmp_path, 0.75)) == 0
    assert gate("--coverage", cobertura(tmp_path, 0.7499)) == 1
    assert gate("--coverage", cobertura(tmp_path, 0.60), "--min-coverage", 50) == 0


def test_any_failure_or_error_or_an_empty_run_fails_the_tests_gate(tmp_path):
    assert gate("--junit", junit(tmp_path, tests=10)) == 0
    assert gate("--junit", junit(tmp_path, tests=10, failures=1)) == 1
    assert gate("--junit", junit(tmp_path, tests=10, errors=1)) == 1
    assert gate("--junit", junit(tmp_path, tests=0)) == 1


def test_missing_or_foreign_reports_are_exit_2_not_a_pass(tmp_path, capsys):
    assert gate("--coverage", tmp_path / "absent.xml") == 2
    assert gate("--coverage", write(tmp_path / "other.xml", "<report/>")) == 2
    assert gate("--bandit", write(tmp_path / "bandit.json", "{not json")) == 2
    assert gate() == 2
    assert "quality_gate:" in capsys.readouterr().err


def test_bandit_fails_on_high_severity_only(tmp_path):
    finding = {"test_id": "B602", "filename": "x.py", "line_number": 3}
    medium = write(
        tmp_path / "m.json", json.dumps({"results": [finding | {"issue_severity": "MEDIUM"}]})
    )
    high = write(
        tmp_path / "h.json", json.dumps({"results": [finding | {"issue_severity": "HIGH"}]})
    )
    assert gate("--bandit", medium) == 0
    assert gate("--bandit", high) == 1


def test_pip_audit_fails_on_any_known_vulnerability(tmp_path):
    clean = {"dependencies": [{"name": "orjson", "version": "3.13.0", "vulns": []}]}
    vulnerable = {"dependencies": [{"name": "x", "version": "1.0", "vulns": [{"id": "PYSEC-1"}]}]}
    assert gate("--pip-audit", write(tmp_path / "a.json", json.dumps(clean))) == 0
    assert gate("--pip-audit", write(tmp_path / "b.json", json.dumps(vulnerable))) == 1


def test_pip_audit_fails_when_it_could_not_audit_every_dependency(tmp_path, capsys):
    skipped = {"name": "annotated-types", "skip_reason": "Dependency not found on PyPI"}
    offline = {"dependencies": [{"name": "orjson", "version": "3.13.0", "vulns": []}, skipped]}
    assert gate("--pip-audit", write(tmp_path / "a.json", json.dumps(offline))) == 1
    assert "1 of 2 dependencies not audited: annotated-types" in capsys.readouterr().out
    assert gate("--pip-audit", write(tmp_path / "b.json", json.dumps({"dependencies": []}))) == 1


@pytest.mark.parametrize(("severity", "code"), [("LOW", 0), ("MEDIUM", 0), ("HIGH", 1),
                                                 ("CRITICAL", 1), (None, 1)])  # fmt: skip
def test_checkov_fails_on_high_critical_and_unrated_checks(tmp_path, severity, code):
    check = {
        "check_id": "CKV_AWS_1",
        "resource": "AWS::S3::Bucket.LakeBucket",
        "severity": severity,
    }
    report = {"results": {"failed_checks": [check]}}
    assert gate("--checkov", write(tmp_path / "c.json", json.dumps(report))) == code


def test_every_gate_is_printed_and_json_says_which_failed(tmp_path, capsys):
    code = gate("--coverage", cobertura(tmp_path, 0.9), "--junit", junit(tmp_path, 5, 1), "--json")
    assert code == 1
    body = json.loads(capsys.readouterr().out)
    assert [(g["name"], g["passed"]) for g in body["gates"]] == [
        ("coverage", True),
        ("tests", False),
    ]


# --- performance_baseline ---------------------------------------------------------------------


def results(directory: Path, samples: list[float], better: str = "higher") -> Path:
    directory.mkdir(exist_ok=True)
    body = {"environment": {}, "rate": {"better": better, "samples": samples, "median": 0}}
    write(directory / "normalize.json", json.dumps(body))
    return directory


def baseline_of(tmp_path: Path, samples: list[float], better: str = "higher") -> Path:
    out = tmp_path / "baseline.json"
    source = results(tmp_path / "base", samples, better)
    assert performance_baseline.main(["create", "--results", str(source), "--out", str(out)]) == 0
    return out


def check(baseline: Path, directory: Path) -> int:
    return performance_baseline.main(
        ["check", "--baseline", str(baseline), "--results", str(directory)]
    )


STEADY = [100.0, 101.0, 99.0, 100.5, 99.5]


def test_a_consistent_drop_beyond_20_percent_is_a_regression(tmp_path):
    baseline = baseline_of(tmp_path, STEADY)
    assert check(baseline, results(tmp_path / "now", [70.0, 71.0, 69.0, 70.5, 69.5])) == 1


def test_one_noisy_sample_is_not_a_regression(tmp_path):
    baseline = baseline_of(tmp_path, STEADY)
    assert check(baseline, results(tmp_path / "now", [100.0, 40.0, 99.0, 101.0, 100.0])) == 0


def test_a_small_drop_even_if_consistent_is_within_the_threshold(tmp_path):
    baseline = baseline_of(tmp_path, STEADY)
    assert check(baseline, results(tmp_path / "now", [90.0, 91.0, 89.0, 90.5, 89.5])) == 0


def test_lower_is_better_metrics_regress_upwards(tmp_path):
    baseline = baseline_of(tmp_path, [50.0, 51.0, 49.0, 50.0, 50.5], better="lower")
    assert check(baseline, results(tmp_path / "now", [80.0, 81.0, 79.0, 80.0, 80.5], "lower")) == 1
    assert check(baseline, results(tmp_path / "now", [30.0, 31.0, 29.0, 30.0, 30.5], "lower")) == 0


def test_too_few_samples_are_reported_not_judged(tmp_path, capsys):
    baseline = baseline_of(tmp_path, [100.0, 100.0])
    assert check(baseline, results(tmp_path / "now", [10.0, 10.0])) == 0
    assert "not enough samples" in capsys.readouterr().out


def test_a_missing_baseline_or_results_is_exit_2(tmp_path):
    assert check(tmp_path / "absent.json", results(tmp_path / "now", STEADY)) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check(baseline_of(tmp_path, STEADY), empty) == 2


def test_fully_separated_samples_have_the_smallest_p_value_of_one_in_252():
    p_value = performance_baseline.regression_p_value(STEADY, [70, 71, 69, 70.5, 69.5], "higher")
    assert p_value == pytest.approx(1 / 252)


def test_the_benchmark_gate_uses_the_same_judgement(tmp_path):
    baseline = baseline_of(tmp_path, STEADY)
    slower = results(tmp_path / "now", [70.0, 71.0, 69.0, 70.5, 69.5])
    assert gate("--baseline", baseline, "--results", slower) == 1
