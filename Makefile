# Kairos: every target installs what it needs from pyproject.toml (pins) and
# requirements.lock (the resolved set), into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: install demo test ui serve bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: generate the sample shop and run the whole pipeline on DuckDB
demo: install
	$(BIN)/kairos demo

## make test: the whole test suite (DuckDB, PostgreSQL, Dagster, HTTP)
test: install
	$(BIN)/python -m pytest

## make ui: the Dagster UI on the same warehouse (http://127.0.0.1:3000)
ui: install
	$(BIN)/kairos ui

## make serve: the pull-feed service (channels pull their synced lists; tokens from KAIROS_FEED_TOKEN_*)
serve: install
	$(BIN)/kairos feeds

## make bench: benchmarks, results in bench_results/
bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf warehouse output landing target logs .dagster_home bench_results
