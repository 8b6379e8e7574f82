# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench catalogs clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job on the embedded default (SQLite, the shipped flows): check the flows, replay
# their scenario suites with coverage, run complaints through the durable service (with a
# restart), and forecast a month of complaints and of paid service requests against the
# manuals' KPIs.
demo: $(STAMP)
	$(VENV)/bin/flow check workflows/*.flow
	$(VENV)/bin/flow simulate --quiet --coverage --scenario workflows/scenarios
	$(VENV)/bin/python examples/demo.py
	$(VENV)/bin/flow simulate complaint --cases 2000 --days 30 --seed 1
	$(VENV)/bin/flow simulate service_request --cases 300 --days 30 --seed 1

lint: $(STAMP)
	$(VENV)/bin/ruff check engine dsl language_server server studio cli.py tests bench examples
	$(VENV)/bin/ruff format --check engine dsl language_server server studio cli.py tests bench examples
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/python -m pytest

# Each prints one JSON object: front-end and engine (vs a dict table and transitions), load
# simulation, the durable store (SQLite, and PostgreSQL when scripts/postgres.sh can start one),
# and the language server (diagnostics after an edit of a 1,000-line flow).
bench: $(STAMP)
	$(VENV)/bin/python bench/run.py
	$(VENV)/bin/python bench/loadsim_bench.py
	$(VENV)/bin/python bench/store_bench.py --pg auto
	$(VENV)/bin/python bench/lsp_bench.py

# After changing a message: refresh the catalog template, merge it into each language's .po
# (new messages appear untranslated: translate them there) and compile the .mo files.
catalogs: $(STAMP)
	$(PY) -m engine.i18n.catalog

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
