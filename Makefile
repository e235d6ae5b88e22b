# Set-up on a fresh machine is `make test` or `make demo`: both create .venv and install what is needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo emulator worker clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy agora emulator workflows activities recorder worker.py

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python -m recorder.demo

emulator: $(STAMP)
	$(BIN)/python -m emulator --port 8089

worker: $(STAMP)
	$(BIN)/python worker.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
