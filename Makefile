# PEV Portal — the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format migrate demo serve clean bench-cis-import

install: $(INSTALLED)

$(INSTALLED): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

## make run: install, migrate, load the demo data, serve HTTP + WebSockets on http://$(HOST):$(PORT)
run: install migrate demo serve

migrate: install
	$(PY) manage.py migrate --noinput

demo: install
	$(PY) manage.py load_demo

serve: install
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/python -m pevportal.serve

## make test: the whole suite (unit, integration, browser). Uses DATABASE_URL / REDIS_URL when set.
test: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var

## Benchmarks (median of rounds; see bench/). BENCH_ROWS / BENCH_ROUNDS override the sizes.
bench-cis-import: install
	$(PY) -m bench.cis_import

.PHONY: bench-enrollment-import
bench-enrollment-import: install
	$(PY) -m bench.enrollment_import
