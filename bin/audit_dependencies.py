#!/usr/bin/env python3
"""Audit the installed dependencies for known vulnerabilities (pip-audit), failing only on those
that have a fixed release to upgrade to.

    python bin/audit_dependencies.py                     # the environment this Python runs in
    python bin/audit_dependencies.py -r requirements.txt # requirement files instead
    python bin/audit_dependencies.py --allow-unaudited   # see "could not audit" below

Exit codes:
  0  nothing to fix: no known vulnerability, or only ones without a fixed release (listed);
  1  at least one known vulnerability has a fixed release: each is listed with the versions that
     fix it (upgrade the pin, or add ``--ignore-vuln ID`` here with a reason after review);
  3  the audit could not be done, or not for every dependency: pip-audit failed (no network to
     PyPI or OSV...) or skipped dependencies it could not look up. Never a silent pass: the
     dependencies left unchecked are listed. ``--allow-unaudited`` turns this case into a loud
     warning with exit 0 (for a machine that cannot reach the vulnerability service); a fixable
     vulnerability among those that were checked still fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

OK, FIXABLE, UNAUDITED = 0, 1, 3
BANNER = "=" * 78


@dataclass
class Verdict:
    code: int
    lines: list[str] = field(default_factory=list)


def judge(report: dict[str, Any] | None, *, error: str = "", allow_unaudited: bool = False) -> Verdict:
    """What pip-audit's JSON report (None if it produced none) means for the build."""
    if report is None:
        lines = [BANNER, "DEPENDENCY AUDIT NOT DONE: pip-audit produced no report.", error.strip()[-2000:], BANNER]
        return Verdict(OK if allow_unaudited else UNAUDITED, lines)
    dependencies = report.get("dependencies", [])
    fixable, unfixable, skipped = [], [], []
    for dep in dependencies:
        if "skip_reason" in dep:
            skipped.append(f"  {dep['name']}: {dep['skip_reason']}")
            continue
        for vuln in dep.get("vulns", []):
            ids = ", ".join([vuln["id"], *vuln.get("aliases", [])])
            if vuln.get("fix_versions"):
                fixes = ", ".join(vuln["fix_versions"])
                fixable.append(f"  {dep['name']} {dep['version']}: {ids} -- fixed in {fixes}")
            else:
                unfixable.append(f"  {dep['name']} {dep['version']}: {ids} -- no fixed release yet")
    audited = len(dependencies) - len(skipped)
    lines = [f"pip-audit: {audited} of {len(dependencies)} dependencies checked for known vulnerabilities."]
    code = OK
    if fixable:
        lines += ["VULNERABLE, WITH A FIX AVAILABLE (upgrade these):", *fixable]
        code = FIXABLE
    if unfixable:
        lines += ["Known vulnerabilities without a fixed release (watch them; not failing the build):", *unfixable]
    if skipped:
        lines += [
            BANNER,
            f"DEPENDENCY AUDIT INCOMPLETE: {len(skipped)} of {len(dependencies)} dependencies could not be checked"
            " (is the vulnerability service reachable?):",
            *skipped,
            BANNER,
        ]
        if code == OK and not allow_unaudited:
            code = UNAUDITED
    if code == OK and not skipped:
        lines.append("No known vulnerability with a fix available.")
    return Verdict(code, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-r", "--requirement", action="append", default=[], help="audit this requirements file")
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID", help="passed to pip-audit")
    parser.add_argument("--allow-unaudited", action="store_true", help="warn, do not fail, when checks were skipped")
    parser.add_argument("--timeout", type=int, default=15)
    args = parser.parse_args(argv)

    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    command += ["--timeout", str(args.timeout)]
    for requirement in args.requirement:
        command += ["--requirement", requirement]
    for vuln in args.ignore_vuln:
        command += ["--ignore-vuln", vuln]
    # pip-audit exits 1 when it finds vulnerabilities: the JSON on stdout is what counts.
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    try:
        report = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    verdict = judge(report, error=done.stderr or done.stdout, allow_unaudited=args.allow_unaudited)
    print("\n".join(verdict.lines))
    return verdict.code


if __name__ == "__main__":
    sys.exit(main())
