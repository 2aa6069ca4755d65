"""No secret in the repository: every file git tracks (or would track: new files not ignored) is read
for private keys, AWS access keys and passwords or secrets written as literal values; the local
development signing key is made at first run in a git-ignored place.

Secrets live outside the repository: Secrets Manager in AWS (webhook signing secrets, the form
challenge's secret), a key generated under ``var/`` locally; docs/security.md says which setting
comes from where.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Built from pieces so that this file does not hold the text it looks for.
PRIVATE_KEY = re.compile("-----BEGIN " + r"(?:[A-Z0-9]+ )*PRIVATE KEY" + "-----")
AWS_ACCESS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")
# NAME = "value", name: 'value', "name": "value", name="value" where the name says secret or password
# (not ..._name, ..._file, ..._id: those name a secret, they are not one)
SECRET_ASSIGNMENT = re.compile(
    r"""(?P<name>[A-Za-z0-9_.-]*(?:secret|passw(?:or)?d|pwd|api[_-]?key|access[_-]?key|private[_-]?key)"""
    r"""(?![A-Za-z0-9_-]*(?:name|file|path|id|arn|env|url)\b)[A-Za-z0-9_-]*)['"]?\s*[:=]\s*"""
    r"""(?P<quote>['"])(?P<value>[^'"\s]{4,})(?P=quote)""", re.IGNORECASE)

# Literal values that are not secrets, and why.
NOT_SECRETS = {
    "testing": "moto's fake AWS credentials (tests, benches and the local stack)",
    "complaints/dev/webhooks/quality": "the name of a webhook secret in Secrets Manager (the webhook tests)",
    "internal-only-7f3a": "a marker the tracking tests put in internal notes (never shown to customers)",
    "secrets-manager": "botocore's service id of Secrets Manager (the fault switch's service names)",
    "secret-key": "the made-up challenge provider secret of the abuse tests",
    "AKIAIOSFODNN7EXAMPLE": "AWS's documented example access key id",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "AWS's documented example secret access key",
}


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def repository_files() -> list[Path]:
    if shutil.which("git") is None or _git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        pytest.skip("not a git checkout")
    listed = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout.split("\0")
    files = [ROOT / name for name in listed if name and (ROOT / name).is_file()]
    assert len(files) > 100  # the whole tree, not a corner of it
    return files


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary (models, images)
    return data.decode("utf-8", errors="replace")


def _findings(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        text = _text(path)
        if text is None:
            continue
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for lineno, line in enumerate(text.splitlines(), 1):
            if PRIVATE_KEY.search(line):
                found.append(f"{where}:{lineno}: a private key")
            for m in AWS_ACCESS_KEY.finditer(line):
                if m.group(0) not in NOT_SECRETS:
                    found.append(f"{where}:{lineno}: an AWS access key id")
            for m in SECRET_ASSIGNMENT.finditer(line):
                value = m.group("value")
                if value not in NOT_SECRETS and not _placeholder(value):
                    found.append(f"{where}:{lineno}: {m.group('name')} set to a literal value")
    return found


def _placeholder(value: str) -> bool:
    """A reference or a placeholder, not a value: ${X}, {{x}}, <your-secret>, $X, os.environ..."""
    return bool(re.fullmatch(r"\$\{[^}]+\}|\{\{[^}]+\}\}|<[^>]+>|\$[A-Z_]+|\.\.\.|x+|\*+", value, re.IGNORECASE))


def test_no_private_keys_access_keys_or_literal_secrets_in_the_repository(repository_files):
    assert _findings(repository_files) == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """Guards the guard: each kind of secret, written as a developer might, is found."""
    samples = {  # from pieces, like the patterns, so that this file passes its own scan
        "key.pem": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...\n",
        "settings.py": 'aws_access_key_id = "' + "AKIA" + "Q3EGRIO5Z7XJ4P2B" + '"\n',
        "config.yaml": "db_pass" + "word: 's3cr3t-Pa55'\n",
        "app.json": '{"client_sec' + 'ret": "0a1b2c3d4e5f"}\n',
        "env.sh": "export API_" + "KEY='live-9f8e7d6c'\n",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
    found = _findings(sorted(tmp_path.iterdir()))
    assert len(found) == len(samples), found
    harmless = tmp_path / "harmless.py"
    harmless.write_text('secret_name = "complaints/prod/webhooks/quality"\nPRIVATE_KEY_FILE = "signing-key.pem"\n'
                        'AWS_SECRET_ACCESS_KEY = "testing"\npassword = "${DB_PASSWORD}"\n')
    assert _findings([harmless]) == []


def test_the_local_signing_key_is_made_at_first_run_where_git_ignores_it(repository_files, tmp_path, monkeypatch):
    from infra import devkeys

    monkeypatch.delenv("COMPLAINTS_VAR_DIR", raising=False)
    default = devkeys.keys_dir() / devkeys.PRIVATE_KEY_FILE  # where `complaints run` keeps it
    relative = default.relative_to(ROOT).as_posix()
    assert _git("check-ignore", "-q", relative).returncode == 0, f"{relative} is not git-ignored"
    assert _git("ls-files", "--", "var").stdout == "", "files under var/ are tracked"

    # made on first use, owner-only, and reused afterwards (tokens survive restarts)
    first = devkeys.ensure_dev_key(tmp_path / "dev-keys")
    pem = tmp_path / "dev-keys" / devkeys.PRIVATE_KEY_FILE
    assert pem.stat().st_mode & 0o077 == 0
    assert PRIVATE_KEY.search(pem.read_text())
    again = devkeys.ensure_dev_key(tmp_path / "dev-keys")
    assert again.kid == first.kid and again.private_pem == first.private_pem
    other = devkeys.ensure_dev_key(tmp_path / "elsewhere")
    assert other.kid != first.kid  # generated, not shipped
