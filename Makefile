# Set-up on a fresh machine is `make test` or `make demo`: both create .venv and install what is needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest browser demo emulator worker clean constraints

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CI's exact versions come from constraints.txt; pyproject.toml keeps the ranges a backend installs.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# After changing a range in pyproject.toml: install, then pin what was installed for CI.
constraints: | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^agora-recording-orchestrator'; } \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy agora emulator workflows activities recorder worker.py

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The Web UI test (tests/webui) drives Debian's Chromium through Playwright; Playwright's own browser download does
# not work on these machines. CI (.ci/run, as root) runs this target before `make test`; `make test` itself never
# needs root: without Chromium the Web UI test skips with one line saying how to get it.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	  else \
	    echo "$(CHROMIUM) is missing: run 'sudo apt-get install -y --no-install-recommends chromium' (Debian)" >&2; \
	    exit 1; \
	  fi; \
	}

demo: $(STAMP)
	$(BIN)/python -m recorder.demo

emulator: $(STAMP)
	$(BIN)/python -m emulator --port 8089

worker: $(STAMP)
	$(BIN)/python worker.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .import_linter_cache

# Benchmarks (never part of `make test`): every figure of bench/RESULTS.md; `make bench BENCH_ARGS=--quick` for a smoke run.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.capacity $(BENCH_ARGS)
	$(BIN)/python -m bench.history $(BENCH_ARGS)
	$(BIN)/python -m bench.healing $(BENCH_ARGS)
	$(BIN)/python -m bench.restart $(BENCH_ARGS)
	$(BIN)/python -m bench.fleet $(BENCH_ARGS)
