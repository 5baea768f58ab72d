# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/training-check demo

# The tests run a real sshd and real tmux/screen sessions: install them (Debian/Ubuntu) when
# one is missing; through sudo when not root, as on GitHub-hosted runners.
TEST_PACKAGES := openssh-server tmux screen
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test-packages
test-packages:
	@if test -x /usr/sbin/sshd && command -v tmux >/dev/null && command -v screen >/dev/null; then :; else \
		echo "installing $(TEST_PACKAGES) for the tests"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TEST_PACKAGES); \
	fi

test: $(STAMP) test-packages
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python tests/servers/fetch_github_openapi.py
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/analysis.py
	$(BIN)/python benchmarks/sources.py
	$(BIN)/python benchmarks/detection.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
