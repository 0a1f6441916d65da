# The two set-up commands of the README: `make demo` and `make test`. Each creates the virtualenv
# on first use and installs the pinned versions of requirements.lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DATASYNC_HOME ?= $(CURDIR)/.datasync

CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser demo test ui sandbox bench clean

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

# The browser test of the Dagster UI drives Debian's chromium (never a downloaded browser). Installed here
# where this machine allows it; otherwise that test skips loudly (and fails under DATASYNC_REQUIRE_BROWSER=1).
browser:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		{ apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } || \
		echo "note: could not install Debian's chromium: the browser test will be skipped"

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `dagster dev` starts the webserver and the daemon at once: on a new DAGSTER_HOME both would create the
# storage and can leave it with two schema heads. Create it first, once.
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster instance migrate >/dev/null
	$(BIN)/dagster dev -w workspace.yaml

sandbox: install
	$(BIN)/datasync sandbox serve --port 8765

clean:
	rm -rf $(VENV) .dagster_home .datasync
