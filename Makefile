# MaskQC: `make demo` to try it, `make test` to run the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n auto
RESET ?=

.PHONY: demo demo-reset test install install-dev migrate serve lint format bench bench-http bench-workers worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	test -f .env || printf '# Local development settings (see .env.example)\nDEBUG=true\n' > .env
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	test -f .env || printf '# Local development settings (see .env.example)\nDEBUG=true\n' > .env
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

# Set up everything, seed the demo project (unless it exists: RESET=1 seeds it anew) and
# serve it on http://127.0.0.1:8000 with the background worker beside it (bin/demo)
demo: migrate
	DEBUG=$${DEBUG:-true} PYTHON=$(BIN)/python HOST=$(HOST) PORT=$(PORT) RESET=$(RESET) bin/demo

# The same, starting the demo project over (what was made in it is lost; new passwords)
demo-reset:
	$(MAKE) demo RESET=1

serve: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# One background worker of the configured TASKS_BACKEND (db_worker, or rqworker on the
# configured queues; nothing for immediate), in the foreground (bin/worker)
worker: install
	PYTHON=$(BIN)/python bin/worker

# Set up everything and run the whole suite (SQLite unless DATABASE_URL is set)
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=tests.settings
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python bench/agreement.py
	$(BIN)/python bench/import_export.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/http_load.py
	$(BIN)/python bench/workers.py

# The seeded 10,000-image project on PostgreSQL served by gunicorn under 50 clients for 60 s
# (the seed is built once and cached; ARGS="--seconds 30" and the like go to the script)
bench-http: install-dev
	$(BIN)/python bench/http_load.py $(ARGS)

# The seeded 10,000-image project recomputed by 1 and then 2 RQ worker processes: images/s,
# the 2-vs-1 ratio, every image computed once (ARGS="--images 300" for a short run)
bench-workers: install-dev
	$(BIN)/python bench/workers.py $(ARGS)

clean:
	rm -rf $(VENV) var/maskqc.sqlite3* staticfiles
