# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job on the shipped flows: check them, then replay every scenario suite.
demo: $(STAMP)
	$(VENV)/bin/flow check workflows/*.flow
	$(VENV)/bin/flow simulate --quiet --scenario workflows/scenarios
	$(VENV)/bin/flow simulate --scenario workflows/scenarios/complaint/10_reply_within_24h_escalates_to_supervisor.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check engine dsl cli.py tests bench
	$(VENV)/bin/ruff format --check engine dsl cli.py tests bench
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
