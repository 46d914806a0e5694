# PEV Portal — the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format migrate demo serve simulate clean bench-cis-import bench-binding bench-ingest \
	bench-billing

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

## make simulate: with `make run` serving, the demo premise's ESCI and EUMD plug in Alice's demo PEV over signed
## HTTP (the first run commissions it, later runs re-bind). SCENARIO=conformance runs the whole kit.
## SIMULATE_ARGS adds options, e.g. "--reads --hold 960 --ami-file var/demo-ami.csv --meter-id M5000001": the
## EUMD then sends the session's reads and the premise meter's file is written for import_ami.
SCENARIO ?= session
SIMULATE_ARGS ?=
DEMO_DEVICES := var/demo-devices/P1000001
simulate: install
	$(PY) manage.py simulate_devices --base-url http://$(HOST):$(PORT) --premise P1000001 \
		--vin 1N4AZ1CP5KC301234 --state-dir var/demo-devices/pev --scenario $(SCENARIO) \
		--esci-key $(DEMO_DEVICES)/esci/key.pem --esci-cert $(DEMO_DEVICES)/esci/cert.pem \
		--eumd-key $(DEMO_DEVICES)/eumd/key.pem --eumd-cert $(DEMO_DEVICES)/eumd/cert.pem $(SIMULATE_ARGS)

clean:
	rm -rf var

## Benchmarks (median of rounds; see bench/). BENCH_ROWS / BENCH_ROUNDS override the sizes.
bench-cis-import: install
	$(PY) -m bench.cis_import

.PHONY: bench-enrollment-import
bench-enrollment-import: install
	$(PY) -m bench.enrollment_import

## The device API at the evening peak on the production server stack (issue 4): BENCH_ESCIS (10000),
## BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_OPEN_ROUNDS, BENCH_ARRIVALS, BENCH_SERVER,
## BENCH_WORKERS, BENCH_THREADS; e.g. BENCH_ESCIS=2000 for a quick run.
bench-binding: install
	$(PY) -m bench.binding

## EUMD reads over signed HTTP against COPY + INSERT … ON CONFLICT of the same rows (issue 5): BENCH_EUMDS (200),
## BENCH_ROUNDS (3), BENCH_BATCH_READS (10000), BENCH_CONCURRENCY (4), BENCH_SERVER, BENCH_WORKERS,
## BENCH_THREADS; e.g. BENCH_EUMDS=50 BENCH_ROUNDS=1 for a quick run.
bench-ingest: install
	$(PY) -m bench.ingest

## A month of billing through a real Celery worker against NREL PySAM Utilityrate5 rating the same reads from the
## same database (issue 6): BENCH_PREMISES (500), BENCH_MONTH (2026-03), BENCH_ROUNDS (3), BENCH_WORKERS (1:
## worker and PySAM processes), BENCH_PYSAM_BATCH (50), BENCH_REDIS_URL (redis://127.0.0.1:6379/9, purged),
## BENCH_RUN_TIMEOUT (600 s); e.g. BENCH_PREMISES=100 BENCH_ROUNDS=1 for a quick run.
bench-billing: install
	$(PY) -m bench.billing

## Live charging status to open WebSockets on the production stack (issue 7): BENCH_SOCKETS (1000 signed-in
## customers on /ws/live/), BENCH_RATE (100 signed status posts/s), BENCH_SECONDS (120), BENCH_BASELINE_RATE (20
## bare group_sends/s, side by side), BENCH_REDIS_URL (redis://127.0.0.1:6379/10, purged), BENCH_SERVER
## (uvicorn|daphne), BENCH_WORKERS (2); then the dashboard benchmark (bench/dashboard.py: BENCH_REQUESTS,
## BENCH_MONTHS, BENCH_NOISE). E.g. BENCH_SECONDS=20 BENCH_SOCKETS=300 for a quick run.
.PHONY: bench-live
bench-live: install
	$(PY) -m bench.live; live=$$?; $(PY) -m bench.dashboard || exit 1; exit $$live
