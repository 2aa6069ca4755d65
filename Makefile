# The front door. `make run` and `make test` each install first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: install run test audit bench package deploy clean

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

# make deploy STAGE=prod SENDER_ADDRESS=... PUBLIC_BASE_URL=https://... COMPLAINT_ADDRESSES=a@x,b@x
#   [OPERATOR_EMAIL=...] [ARTEFACTS_BUCKET=...] [CONFIG_DIR=...] [MODEL_FILE=...] [PRIORITY_RULES_FILE=...]
#   [DRY_RUN=1]: package, deploy the stack, stage the configuration (infra/deploy.py, docs/operations.md).
# These variables reach infra/deploy.py through the environment.
STAGE ?= dev
deploy: install
	STAGE='$(STAGE)' $(PY) -m infra.deploy $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) var dist functions/vendor functions/requirements.txt .pytest_cache .bench
