"""`make audit` (infra/audit.py): what fails it and what it lets through, offline.

pip-audit's result and PyPI's project pages are given to the audit as the network would give them;
bandit really runs, on small files written here.
"""
from __future__ import annotations

import textwrap

from infra import audit


def _page(latest: str, vulnerabilities: list | None = None, releases: dict | None = None) -> dict:
    return {"info": {"version": latest, "requires_python": None}, "vulnerabilities": vulnerabilities or [],
            "releases": releases or {latest: [{"requires_python": None, "yanked": False}]}}


def _not_on_pypi(name: str, version: str) -> dict:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})"}


def _audit(result, pages: dict, installed: dict) -> audit.Report:
    report = audit.Report()
    audit.audit_dependencies(report, pip_audit=lambda: result, page=pages.__getitem__, installed=installed.get)
    return report


def test_a_known_vulnerability_fails_the_audit():
    result = {"dependencies": [{"name": "jinja2", "version": "3.1.2", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]}, {"name": "pydantic", "version": "2.9.0", "vulns": []}]}
    report = _audit(result, {}, {})
    assert report.failed and report.audited == 2
    assert report.vulnerable == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"]
    assert "audit: FAILED" in audit.summary(report)


def test_pypi_unreachable_fails_instead_of_passing():
    report = _audit("pip-audit gave no result (exit 1): ConnectionError: pypi.org", {}, {})
    assert report.failed and report.unreachable
    lines = audit.summary(report)
    assert any("could not be done" in line for line in lines) and lines[-1] == "audit: FAILED"
    # a package pip-audit skipped and whose project page cannot be read either
    report = _audit({"dependencies": [_not_on_pypi("boto3", "1.40.0")]}, {"boto3": OSError("timed out")},
                    {"boto3": "1.40.0"})
    assert report.failed and "boto3 1.40.0: PyPI could not be asked" in report.unreachable[0]


def test_a_skipped_package_is_audited_from_its_project_page_when_it_is_the_latest():
    result = {"dependencies": [_not_on_pypi("requests", "2.31.0"), _not_on_pypi("urllib3", "2.2.0"),
                               {"name": "complaints", "skip_reason": "distribution marked as editable"}]}
    pages = {"requests": _page("2.31.0", [{"id": "PYSEC-2023-74", "fixed_in": ["2.32.0"], "withdrawn": None},
                                          {"id": "PYSEC-2020-1", "fixed_in": [], "withdrawn": "2021-01-01"}]),
             "urllib3": _page("2.2.0")}
    report = _audit(result, pages, {"requests": "2.31.0", "urllib3": "2.2.0"})
    assert report.audited == 2
    assert report.vulnerable == ["requests 2.31.0: PYSEC-2023-74 (fixed in 2.32.0)"]  # the withdrawn one is not


def test_an_older_release_fails_unless_something_holds_it_back():
    releases = {"2.0": [{"requires_python": ">=3.99", "yanked": False}], "1.5": [{"requires_python": None,
                                                                                 "yanked": False}],
                "1.4": [{"requires_python": None, "yanked": False}]}
    result = {"dependencies": [_not_on_pypi("somepkg-not-installed", "1.5")]}
    held = _audit(result, {"somepkg-not-installed": _page("2.0", releases=releases)}, {"somepkg-not-installed": "1.5"})
    assert not held.failed
    assert held.held_back == ["somepkg-not-installed 1.5 (latest 2.0: needs Python >=3.99)"]
    assert "not audited" in "\n".join(audit.summary(held))

    stale = _audit(result, {"somepkg-not-installed": _page("2.0", releases=releases)}, {"somepkg-not-installed": "1.4"})
    assert stale.failed and stale.outdated == ["somepkg-not-installed 1.4 (newest installable here: 1.5)"]


def test_bandit_findings_of_medium_severity_and_unreadable_nosec_comments_fail(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "loader.py").write_text(textwrap.dedent('''\
        import yaml


        def load(text):
            return yaml.load(text, Loader=yaml.Loader)


        def checked(value):
            assert value  # a low finding: counted, not failing
    '''))
    report = audit.Report()
    audit.audit_code(report, paths=("pkg",), cwd=tmp_path)
    assert report.failed
    assert [f.split(": ", 1)[0] for f in report.code_failures] == ["pkg/loader.py:5"]
    assert report.code_low == {"B101 assert_used": 1}

    (tmp_path / "pkg" / "loader.py").write_text(textwrap.dedent('''\
        import yaml


        def load(text):
            return yaml.load(text, Loader=yaml.Loader)  # nosec B506  # trusted input (a reason after a second #)


        def misread(text):
            return yaml.load(text, Loader=yaml.Loader)  # nosec B506 - the reason read as tests
    '''))
    report = audit.Report()
    audit.audit_code(report, paths=("pkg",), cwd=tmp_path)
    assert report.nosec == 2
    assert report.code_failures and all("nosec comment" in f for f in report.code_failures)
