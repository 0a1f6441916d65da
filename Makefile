# The two set-up commands of the README: `make demo` and `make test`. Each creates the virtualenv
# on first use and installs the pinned versions of requirements.lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DATASYNC_HOME ?= $(CURDIR)/.datasync

.PHONY: install demo test ui sandbox bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/datasync demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

sandbox: install
	$(BIN)/datasync sandbox serve --port 8765

clean:
	rm -rf $(VENV) .dagster_home .datasync
