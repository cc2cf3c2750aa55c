# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
# The virtual environment is reused while pyproject.toml and constraints.txt are unchanged.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo lint bench bench-large lock clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,lint]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest

demo: install
	$(BIN)/python dags_examples/demo/run_demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_bench.py

bench-large: install
	$(BIN)/python bench/run_bench.py --sizes 10000 100000 1000000

lock: install
	{ echo "# Every version the tests ran with (pip freeze of a fresh .venv, Python 3.11, apache-airflow 3.3.2)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info .demo
