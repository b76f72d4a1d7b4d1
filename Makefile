# The few commands a newcomer needs; `make help` lists them.
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# honcho reads .env for `start`; running every other step through `honcho run` too means migrate, the demo
# data and the processes all see the same settings.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho run
# `$(EMBEDDED_REDIS) --around CMD` runs CMD with the embedded Redis up when CELERY_BROKER_URL or REDIS_URL
# is unset (and just runs CMD otherwise).
EMBEDDED_REDIS := $(PY) -m stockhub.embedded_redis
# `make up SEED_DEMO=true` starts without (re)loading the demo data.
SEED_DEMO := $(PY) manage.py seed_demo
ARGS ?=

.PHONY: help up demo test lint fmt bench screenshots clean

help: ## list these targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: $(VENV)/.installed var/flower_credentials ## everything: web, one worker per queue, beat, Flower, demo data (embedded defaults unless URLs are set)
	@$(RUN) $(EMBEDDED_REDIS) --around sh -ec '\
	    $(PY) -m stockhub.preflight --wait-seconds 10; \
	    $(PY) manage.py migrate --noinput; \
	    $(PY) manage.py collectstatic --noinput --verbosity 0; \
	    $(SEED_DEMO)'
	@$(RUN) sh -c '\
	    port=$${PORT:-8000}; \
	    if [ -n "$$FLOWER_BASIC_AUTH" ]; then login="user $${FLOWER_BASIC_AUTH%%:*}, password from FLOWER_BASIC_AUTH"; \
	    else login="$$(cat var/flower_credentials) (generated into var/flower_credentials)"; fi; \
	    printf "\n  web     http://127.0.0.1:%s/\n  admin   http://127.0.0.1:%s/admin/   (demo logins above)\n  Flower  http://127.0.0.1:5555/   login %s\n\n  Ctrl-C stops everything.\n\n" \
	        "$$port" "$$port" "$$login"'
	@PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start --port $${PORT:-8000}

demo: $(VENV)/.installed ## (re)load demo users, portfolios and bars
	@$(RUN) $(EMBEDDED_REDIS) --around $(SEED_DEMO)

# Without CELERY_BROKER_URL/REDIS_URL, conftest.py starts an embedded Redis on var/test-redis.sock; pointing
# the defaults there too keeps the tests away from the Redis a running `make up` uses.
test: $(VENV)/.installed-dev ## pytest against real PostgreSQL and Redis (extra pytest arguments: ARGS=...)
	STOCKHUB_EMBEDDED_REDIS_SOCKET=$${STOCKHUB_EMBEDDED_REDIS_SOCKET:-$(CURDIR)/var/test-redis.sock} $(BIN)/pytest $(ARGS)

lint: $(VENV)/.installed-dev ## ruff format --check && ruff check
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

fmt: $(VENV)/.installed-dev ## ruff format && ruff check --fix
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev ## timing runs: every bench/*.py script in turn (extra arguments: ARGS=...)
	@set -e; scripts=$$(grep -l '__name__ == "__main__"' bench/*.py 2>/dev/null | grep -v screenshots || true); \
	[ -n "$$scripts" ] || echo "make bench: no bench scripts yet"; \
	for script in $$scripts; do echo "== $$script"; $(PY) "$$script" $(ARGS); done

screenshots: $(VENV)/.installed-dev ## PNGs of the pages for README.md (docs/screenshots/; a scratch database)
	$(PY) bench/screenshots.py $(ARGS)

clean: ## remove caches, collected static files and the embedded Redis dump (keeps .venv and the database)
	rm -rf .pytest_cache .ruff_cache staticfiles var/redis.rdb var/test-redis.rdb
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# --- the virtualenv: created once, re-installed only when a requirements file is newer than its stamp ---

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check --root-user-action=ignore --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check --root-user-action=ignore --quiet -r requirements-dev.txt
	@touch $@

# Flower never runs open: without FLOWER_BASIC_AUTH it uses this login, generated once.
var/flower_credentials:
	@mkdir -p var
	@umask 077 && python3 -c 'import secrets; print("admin:" + secrets.token_urlsafe(16))' > $@
