# Two entry points a new user needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m osan.demo

lint: $(STAMP)
	$(BIN)/ruff check osan tests benchmarks
	$(BIN)/ruff format --check osan tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format osan tests benchmarks
	$(BIN)/ruff check --fix osan tests benchmarks

# pytest exits 5 when it collects no test: that must fail, never pass silently.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info
