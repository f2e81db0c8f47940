"""bin/audit_dependencies.py: fails on a known vulnerability with a fix, never passes silently when
the vulnerability service could not be asked. pip-audit itself is faked here (CI runs the real one)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bin" / "audit_dependencies.py"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


DJANGO_FIXED = {
    "name": "django",
    "version": "5.2.0",
    "vulns": [{"id": "PYSEC-2025-1", "aliases": ["CVE-2025-0001"], "fix_versions": ["5.2.1"], "description": "..."}],
}
CELERY_UNFIXED = {"name": "celery", "version": "5.7.0", "vulns": [{"id": "GHSA-xxxx", "fix_versions": []}]}
CLEAN = {"name": "structlog", "version": "26.1.0", "vulns": []}
SKIPPED = {"name": "kombu", "skip_reason": "Dependency not found on PyPI and could not be audited: kombu (5.7.0)"}


def test_a_vulnerability_with_a_fixed_release_fails_the_build_and_names_the_fix(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [DJANGO_FIXED, CLEAN]})
    assert verdict.code == 1
    assert "  django 5.2.0: PYSEC-2025-1, CVE-2025-0001 -- fixed in 5.2.1" in verdict.lines


def test_a_vulnerability_without_a_fix_is_reported_but_does_not_fail(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [CELERY_UNFIXED, CLEAN]})
    assert verdict.code == 0
    assert "  celery 5.7.0: GHSA-xxxx -- no fixed release yet" in verdict.lines


def test_a_clean_report_passes(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [CLEAN]})
    assert verdict.code == 0
    assert verdict.lines[-1] == "No known vulnerability with a fix available."


def test_dependencies_that_could_not_be_checked_fail_unless_allowed_and_are_always_listed(audit: ModuleType) -> None:
    strict = audit.judge({"dependencies": [CLEAN, SKIPPED]})
    lenient = audit.judge({"dependencies": [CLEAN, SKIPPED]}, allow_unaudited=True)
    for verdict in (strict, lenient):
        text = "\n".join(verdict.lines)
        assert "DEPENDENCY AUDIT INCOMPLETE: 1 of 2 dependencies could not be checked" in text
        assert "kombu: Dependency not found on PyPI" in text
        assert "No known vulnerability" not in text  # never sounds like a clean bill of health
    assert (strict.code, lenient.code) == (3, 0)


def test_a_fixable_vulnerability_fails_even_when_unchecked_ones_are_allowed(audit: ModuleType) -> None:
    assert audit.judge({"dependencies": [DJANGO_FIXED, SKIPPED]}, allow_unaudited=True).code == 1


def test_no_report_at_all_is_an_audit_not_done(audit: ModuleType) -> None:
    verdict = audit.judge(None, error="requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'")
    assert verdict.code == 3
    assert "DEPENDENCY AUDIT NOT DONE" in verdict.lines[1]
    assert "api.osv.dev" in "\n".join(verdict.lines)


def test_the_script_runs_pip_audit_in_json_and_exits_with_the_verdict(audit: ModuleType, capsys) -> None:
    fake = subprocess.CompletedProcess([], 1, stdout=json.dumps({"dependencies": [DJANGO_FIXED]}), stderr="")
    with mock.patch.object(audit.subprocess, "run", return_value=fake) as run:
        code = audit.main(["-r", "requirements.txt", "--ignore-vuln", "GHSA-yyyy"])
    command = run.call_args.args[0]
    assert command[1:3] == ["-m", "pip_audit"]
    assert command[3:5] == ["--format", "json"]
    assert "--requirement" in command and "GHSA-yyyy" in command
    assert code == 1
    assert "fixed in 5.2.1" in capsys.readouterr().out
