# Needs only python3 and make. Every target builds .venv first from the pinned files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
DEMO_BIRTHS ?= 5000
DEMO_SEED ?= 7

.PHONY: setup demo test lint bench bench-ingest clean constraints

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/birthrec generate --births $(DEMO_BIRTHS) --seed $(DEMO_SEED) --out $(DEMO) > /dev/null
	$(BIN)/birthrec run --inbox $(DEMO)/inbox --warehouse $(DEMO)/warehouse.duckdb | tail -n 1 | $(BIN)/python -m flows.show_summary

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check flows transforms schemas warehouse tests benchmarks
	$(BIN)/mypy

bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py --births 1000000

# Nightly run on 1% new records vs the full run and a rebuild (issue 3): `make bench-nightly`
# (100,000 births), or `make bench-nightly BENCH_NIGHTLY_ARGS="--births 1000000"`.
BENCH_NIGHTLY_ARGS ?= --births 100000
.PHONY: bench-nightly
bench-nightly: $(STAMP)
	$(BIN)/python benchmarks/bench_nightly.py $(BENCH_NIGHTLY_ARGS)

bench: bench-ingest

# Re-pin the whole dependency tree after changing a pin in pyproject.toml.
constraints:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^birthrec' > constraints.txt

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info

# Linking benchmark, birthrec against Splink: `make bench-linking` (100,000 births), or
# `make bench-linking BENCH_LINKING_ARGS="--births 1000000"`. Splink lives in its own venv.
SPLINK_VENV := benchmarks/.venv-splink
BENCH_LINKING_ARGS ?= --births 100000
.PHONY: bench-linking
bench-linking: $(STAMP)
	@if [ ! -f $(SPLINK_VENV)/.installed ] || [ benchmarks/requirements-splink.txt -nt $(SPLINK_VENV)/.installed ]; then \
		rm -rf $(SPLINK_VENV) && $(PYTHON) -m venv $(SPLINK_VENV) && echo '*' > $(SPLINK_VENV)/.gitignore \
		&& $(SPLINK_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-splink.txt \
		&& touch $(SPLINK_VENV)/.installed; fi
	$(BIN)/python benchmarks/bench_linking.py $(BENCH_LINKING_ARGS)
