"""`make audit`: known vulnerabilities in the installed dependencies (pip-audit) and security findings
in the code (bandit). Exits 1 on any finding, and when the audit could not be done.

Dependencies: ``pip-audit`` audits this environment (the venv: runtime and dev dependencies; the
Lambda package pins the same versions, see infra/package.py) against PyPI's vulnerability data. Where
PyPI does not answer for a release (a mirror that serves only the project pages, as on the
development machines here: pip-audit then reports "Dependency not found on PyPI" and would pass),
the project page answers instead: its vulnerability list is the latest release's, so it audits an
installed version that is the latest. An installed version that is not the latest, and not held back
by the Python version or by another installed package's requirement, fails ("upgrade it"); one that
is held back is listed as not audited. Failing to reach PyPI at all fails the audit.

Code: ``bandit`` over functions/, shared/ and infra/ with ``[tool.bandit]`` of pyproject.toml. A
medium or high finding fails (a false positive takes ``# nosec BXXX  # why`` on its line: the second
``#`` keeps the reason out of bandit's list of test ids); so does a ``nosec`` comment that bandit
cannot read. Low findings are counted and listed (docs/security.md says why they stay).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
CODE = ("functions", "shared", "infra")
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
NOT_ON_PYPI = "Dependency not found on PyPI"
FAILING_SEVERITIES = ("MEDIUM", "HIGH")


@dataclass
class Report:
    vulnerable: list[str] = field(default_factory=list)  # "name version: id (fixed in ...)"
    outdated: list[str] = field(default_factory=list)  # not the latest and nothing holds it back
    held_back: list[str] = field(default_factory=list)  # not audited: PyPI answered for the latest only
    unreachable: list[str] = field(default_factory=list)
    audited: int = 0
    code_failures: list[str] = field(default_factory=list)
    code_low: dict[str, int] = field(default_factory=dict)
    nosec: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.vulnerable or self.outdated or self.unreachable or self.code_failures)


# -- dependencies ----------------------------------------------------------------------------------------
def run_pip_audit(timeout: float = 20) -> dict[str, Any] | str:
    """pip-audit's JSON result for this environment, or why there is none."""
    cmd = [sys.executable, "-m", "pip_audit", "--skip-editable", "--format", "json", "--progress-spinner", "off",
           "--timeout", str(int(timeout))]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)  # nosec B603  # fixed argument list
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return f"pip-audit gave no result (exit {run.returncode}): {last[:600]}"


def project_page(name: str, timeout: float = 20, attempts: int = 3) -> dict[str, Any] | Exception:
    """PyPI's project page (JSON) of ``name``, or the error that prevented reading it (a network error is
    tried again, twice)."""
    import time
    from urllib.error import HTTPError
    from urllib.request import urlopen

    error: Exception = RuntimeError("not asked")
    for attempt in range(attempts):
        if attempt:
            time.sleep(attempt)
        try:
            with urlopen(PYPI_PROJECT.format(name=name), timeout=timeout) as response:  # nosec B310  # https constant
                return json.loads(response.read())
        except HTTPError as exc:  # an answer: asking again changes nothing
            return exc
        except Exception as exc:  # noqa: BLE001 - reported, never passed over
            error = exc
    return error


def installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def audit_dependencies(report: Report, *, pip_audit: Callable[[], dict[str, Any] | str] = run_pip_audit,
                       page: Callable[[str], dict[str, Any] | Exception] = project_page,
                       installed: Callable[[str], str | None] = installed_version) -> None:
    result = pip_audit()
    if isinstance(result, str):
        report.unreachable.append(result)
        return
    skipped = []
    for dep in result.get("dependencies", []):
        if "skip_reason" in dep:
            if "editable" in dep["skip_reason"]:
                continue  # this project itself (pip install -e)
            if dep["skip_reason"].startswith(NOT_ON_PYPI):
                skipped.append(dep["name"])
            else:
                report.unreachable.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        report.audited += 1
        for vuln in dep.get("vulns", []):
            report.vulnerable.append(_vulnerability(dep["name"], dep["version"], vuln["id"], vuln.get("fix_versions")))
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(zip(sorted(skipped), pool.map(page, sorted(skipped))))
    for name, found in pages:
        _audit_from_project_page(report, name, installed(name), found)


def _audit_from_project_page(report: Report, name: str, installed: str | None,
                             page: dict[str, Any] | Exception) -> None:
    if installed is None:
        report.unreachable.append(f"{name}: listed by pip-audit, not installed here")
        return
    if isinstance(page, Exception):
        report.unreachable.append(f"{name} {installed}: PyPI could not be asked ({type(page).__name__}: {page})")
        return
    latest = page["info"]["version"]
    if _same_version(installed, latest):
        report.audited += 1
        for vuln in page.get("vulnerabilities") or []:
            if not vuln.get("withdrawn"):
                report.vulnerable.append(_vulnerability(name, installed, vuln["id"], vuln.get("fixed_in")))
        return
    best, reasons = newest_installable(name, page)
    if best is not None and _same_version(installed, best):
        report.held_back.append(f"{name} {installed} (latest {latest}: {'; '.join(reasons)})")
    else:
        report.outdated.append(f"{name} {installed} (newest installable here: {best or latest})")


def newest_installable(name: str, page: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The newest release of ``name`` that this Python and the installed packages' requirements allow,
    and what rules the newer ones out."""
    import platform
    from importlib.metadata import distributions

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    python = platform.python_version()
    caps: list[tuple[str, SpecifierSet]] = []
    wanted = canonicalize_name(name)
    for dist in distributions():
        extras = ["", *(dist.metadata.get_all("Provides-Extra") or [])]
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if canonicalize_name(req.name) != wanted or not req.specifier:
                continue
            if req.marker and not any(req.marker.evaluate({"extra": extra}) for extra in extras):
                continue
            caps.append((f"{dist.metadata['Name']} requires {req.name}{req.specifier}", req.specifier))

    def python_ok(files: list[dict[str, Any]]) -> bool:
        for f in files:
            try:
                if not f.get("yanked") and (not f.get("requires_python")
                                            or SpecifierSet(f["requires_python"]).contains(python, prereleases=True)):
                    return True
            except InvalidSpecifier:
                return True
        return False

    reasons: list[str] = []
    releases = []
    for text, files in (page.get("releases") or {}).items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if not version.is_prerelease and files:
            releases.append((version, text, files))
    for version, text, files in sorted(releases, reverse=True):
        why = [label for label, spec in caps if not spec.contains(version, prereleases=True)]
        if not why and python_ok(files):
            return text, reasons
        needs = next((f["requires_python"] for f in files if not f.get("yanked") and f.get("requires_python")), None)
        for reason in why or [f"needs Python {needs}" if needs else "yanked"]:
            if reason not in reasons:
                reasons.append(reason)
    return None, reasons


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _vulnerability(name: str, version: str, vuln_id: str, fixed: list[str] | None) -> str:
    return f"{name} {version}: {vuln_id}" + (f" (fixed in {', '.join(fixed)})" if fixed else "")


# -- code ---------------------------------------------------------------------------------------------------
def audit_code(report: Report, paths: tuple[str, ...] = CODE, cwd: Path = ROOT) -> None:
    cmd = [sys.executable, "-m", "bandit", "-c", str(ROOT / "pyproject.toml"), "-r", *paths, "-f", "json", "-q"]
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)  # nosec B603  # fixed argument list
    try:
        result = json.loads(run.stdout)
    except json.JSONDecodeError:
        report.code_failures.append(f"bandit gave no result (exit {run.returncode}): {run.stderr.strip()[-800:]}")
        return
    for unreadable in sorted(set(re.findall(r"Test in comment: (\S+) is not a test name or id", run.stderr))):
        report.code_failures.append(f"a nosec comment bandit reads '{unreadable}' in as a test id: put the reason "
                                    "after a second '#' (# nosec B000  # why)")
    for error in result.get("errors", []):
        report.code_failures.append(f"{error.get('filename')}: bandit could not read it: {error.get('reason')}")
    for issue in result.get("results", []):
        where = f"{Path(issue['filename']).as_posix()}:{issue['line_number']}"
        if issue["issue_severity"] in FAILING_SEVERITIES:
            report.code_failures.append(f"{where}: {issue['test_id']} {issue['issue_severity'].lower()}: "
                                        f"{issue['issue_text']}")
        else:
            key = f"{issue['test_id']} {issue['test_name']}"
            report.code_low[key] = report.code_low.get(key, 0) + 1
    totals = result.get("metrics", {}).get("_totals", {})
    report.nosec = int(totals.get("nosec", 0)) + int(totals.get("skipped_tests", 0))  # bare and with test ids


# -- main ---------------------------------------------------------------------------------------------------
def summary(report: Report) -> list[str]:
    lines = []
    for title, items in (("known vulnerabilities", report.vulnerable),
                         ("not the latest release, and nothing holds them back: upgrade them "
                          "(.venv/bin/python -m pip install -U NAME, or make clean install)", report.outdated),
                         ("the audit could not be done: PyPI's vulnerability data was not reached", report.unreachable),
                         ("not audited: PyPI answered for the latest release only, which cannot be "
                          "installed here", report.held_back),
                         ("bandit: findings that fail the audit", report.code_failures)):
        if items:
            lines.append(f"audit: {title}:")
            lines += [f"  {item}" for item in items]
    lows = sum(report.code_low.values())
    lines.append(f"audit: dependencies: {report.audited} audited, {len(report.vulnerable)} known vulnerabilities, "
                 f"{len(report.held_back)} not audited (held back)")
    lines.append(f"audit: bandit: {len(report.code_failures)} failing (medium/high or unreadable nosec), "
                 f"{lows} low ({', '.join(f'{k}: {n}' for k, n in sorted(report.code_low.items())) or 'none'}), "
                 f"{report.nosec} nosec")
    lines.append("audit: FAILED" if report.failed else "audit: passed")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.audit", description=__doc__.split("\n")[0])
    parser.add_argument("--no-deps", action="store_true", help="bandit only (offline)")
    parser.add_argument("--no-code", action="store_true", help="pip-audit only")
    args = parser.parse_args(argv)
    report = Report()
    if not args.no_deps:
        audit_dependencies(report)
    if not args.no_code:
        audit_code(report)
    sys.stdout.write("\n".join(summary(report)) + "\n")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
