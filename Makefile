# referral-router: the README's commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KAFKA  ?= tansu
# The Tansu pass runs the whole suite; KAFKA=apache runs only the tests that reach a broker (the
# `kafka` marker, set in tests/conftest.py), since the rest cannot tell the brokers apart.
# ALL=1 runs everything against Apache Kafka too.
ALL    ?=
ifeq ($(KAFKA)$(ALL),apache)
TEST_SELECT := -m kafka
TEST_CHECKS :=
else
TEST_SELECT :=
TEST_CHECKS := lint typecheck
endif
UV_VERSION := 0.13.9
# A plain KAFKA variable would be read as the services' `kafka` settings group; tests get it
# under their own name.
unexport KAFKA

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck unit install kafka-jars tools chaos bench bench-dossier bench-web bench-idle clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  make test KAFKA=apache   the tests that reach a broker, against Apache Kafka (needs Java 17 and Maven)"
	@echo "  make test KAFKA=apache ALL=1   lint, type checks and the whole suite against Apache Kafka"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed ## Create .venv and install the project with pinned versions

# `make run` installs only what the dev stack needs (no test tools, no matplotlib), so that a
# fresh clone shows the running system within a minute; `make install` adds the rest.
# More options of `referral-router dev` via RUN_ARGS, e.g. make run RUN_ARGS="--accelerate 5000".
# uv installs the same pinned versions many times faster than pip (pip is the fallback).
$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	{ $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)" && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[run]"; } || \
	  $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[run]"
	touch $@

run: $(VENV)/.installed-run ## Start the dev stack with the portal simulator and the live view (Ctrl-C stops everything)
	$(BIN)/referral-router dev --kafka $(KAFKA) $(RUN_ARGS)

lint: install ## ruff (lint and format) and import-linter (domain purity, service independence)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install ## mypy (strict on shared and every domain)
	$(BIN)/mypy shared services referral_router

kafka-jars: tools
ifeq ($(KAFKA),apache)
	bash deploy/kafka/kafka.sh fetch
endif

unit: install ## Only the fast unit tests
	$(BIN)/python -m pytest tests/unit -q

# The system packages `make test` needs (Prometheus and promtool, a font; Java and Maven for
# KAFKA=apache; Chromium for the web app's browser tests), installed with apt-get when missing.
tools:
	bash deploy/tools/system-packages.sh $(KAFKA)

test: install tools $(TEST_CHECKS) kafka-jars ## Lint, type checks and the whole suite (unit, integration, e2e, reliability)
	# A private basetemp: another pytest session resets /tmp/pytest-of-<user> to 0700, which
	# would cut the unprivileged test Postgres off from its data directory.
	mkdir -p .pytest-tmp
	TEST_KAFKA=$(KAFKA) $(BIN)/python -m pytest -q --basetemp=.pytest-tmp/$(KAFKA) $(TEST_SELECT)

chaos: install tools kafka-jars ## Long chaos run (2,000+ referrals, many faults, 20,000-referral backlog); writes docs/RELIABILITY.md
	TEST_KAFKA=$(KAFKA) $(BIN)/python -m tests.reliability.chaos --long --report docs/RELIABILITY.md

bench: install kafka-jars ## End-to-end benchmark with the raw Kafka and Postgres baselines; writes docs/PERFORMANCE.md
	TEST_KAFKA=$(KAFKA) $(BIN)/python -m bench.e2e --flavour $(KAFKA) \
		--report docs/$(if $(filter tansu,$(KAFKA)),PERFORMANCE.md,PERFORMANCE-$(KAFKA).md)

bench-dossier: install ## Dossier reads with 100,000 referrals stored (issue 19); writes its section of docs/PERFORMANCE.md
	$(BIN)/python -m bench.dossier --report docs/PERFORMANCE.md

bench-web: install ## Web app team board and my referrals with 50,000 referrals stored (issue 20); writes its section of docs/PERFORMANCE.md
	$(BIN)/python -m bench.web --report docs/PERFORMANCE.md

IDLE_MIN ?= 5
bench-idle: install kafka-jars ## Idle cost (issue 25): CPU, wake-ups and memory per process over IDLE_MIN idle minutes, then the first referral and a 50/s burst
	TEST_KAFKA=$(KAFKA) $(BIN)/python -m bench.idle --flavour $(KAFKA) --idle-min $(IDLE_MIN)

clean: ## Remove the dev stack's state (.dev/)
	rm -rf .dev
