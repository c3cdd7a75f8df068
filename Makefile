# One command to run the demo, one to run the tests. Both build the virtual environment first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The server run of the suite; override to point at other servers.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/drg_pathway
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	bash scripts/demo.sh

lint: install
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run

test: install lint
	bash scripts/test.sh

bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) var db.sqlite3
