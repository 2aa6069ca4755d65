# The front door. `make run` and `make test` each install first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: install run test bench package clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[dev]'
	@touch $@

run: install
	$(VENV)/bin/complaints run

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m infra.bench

package: install
	$(PY) -m infra.package

clean:
	rm -rf $(VENV) var dist functions/vendor functions/requirements.txt .pytest_cache .bench
