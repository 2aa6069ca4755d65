# The front door. `make run` and `make test` each install first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: install run test audit bench package clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools -e '.[dev]'
	@touch $@

run: install
	$(VENV)/bin/complaints run

test: install
	$(PY) -m pytest

# Known vulnerabilities in the installed dependencies (pip-audit, needs PyPI) and bandit over the
# code; fails on any finding or when the audit cannot be done (infra/audit.py, docs/security.md).
audit: install
	$(PY) -m infra.audit

bench: install
	$(PY) -m infra.bench

package: install
	$(PY) -m infra.package

clean:
	rm -rf $(VENV) var dist functions/vendor functions/requirements.txt .pytest_cache .bench
