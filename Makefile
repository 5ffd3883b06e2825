# K2 Serverless — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Let Python keep its bytecode caches (__pycache__, ignored by git) even where the machine
# sets PYTHONDONTWRITEBYTECODE: otherwise every pytest worker and every k2 process a test
# starts compiles every module it imports again - collecting the suite took 11.6 s of CPU per
# process instead of 4.1 s, and the suite starts dozens of processes.
unexport PYTHONDONTWRITEBYTECODE
# The Lambda runtime is python3.12; develop and test on the same interpreter when it exists
# (on PATH, or in pyenv), otherwise fall back to python3 (>= 3.11 is supported).
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { command -v "$$p" || echo "$$p"; } && break; done)
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-extras --python $(BIN)/python -q
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install the locked dependencies

# SAM CLI lives in its own environment (it pins older boto3/click than the project).
SAM := .tools/sam/bin/sam
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} UV=$(CURDIR)/$(BIN)/uv
$(SAM): infra/sam/requirements.txt $(STAMP)
	@$(BIN)/uv venv -q --allow-existing --python $(PYTHON) .tools/sam
	@VIRTUAL_ENV=.tools/sam $(BIN)/uv pip install -q -r infra/sam/requirements.txt
	@touch $@

.PHONY: run
run: $(STAMP) ## The main job: replay server -> connector (websocket) -> Kinesis -> normalize -> Parquet on S3 + Glue, embedded endpoint
	$(BIN)/k2 run $(ARGS)

# The default suite in parallel: pytest-xdist with 4 workers, whatever the cores. Many tests
# wait (on a replay server's pace, a subprocess, a retry): on this 2-core machine 4 workers
# keep both cores busy where 2 left one idle half the time (548 tests: 4 min 18 s instead of
# 5 min 50 s). Each worker runs its own moto server and DuckDB.
PYTEST := $(BIN)/pytest -q
PARALLEL := -n 4 --dist worksteal
# Tiers that inject faults or run long ask first, unless CI=true or CONFIRM=1.
define confirm
	@if [ "$(CI)" != "true" ] && [ "$(CONFIRM)" != "1" ]; then \
		read -r -p "$(1) Continue? [y/N] " answer && [ "$$answer" = y ] || { echo "stopped"; exit 1; }; \
	fi
endef

.PHONY: test
test: $(STAMP) browser ## Default suite, parallel: unit + integration (no slow, chaos, operational, soak, performance)
	$(PYTEST) $(PARALLEL) $(ARGS)

# The dashboard test drives Debian's Chromium (Playwright launches it; Playwright's own
# browser download is not used). Installed when missing and apt can; else that test skips.
.PHONY: browser
browser: ## Debian's chromium for the dashboard test (apt, when missing)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null \
		&& apt-get install -y -q chromium >/dev/null; }; } ; } \
		|| echo "chromium not installed: the dashboard test will be skipped"

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only
	$(PYTEST) -m "unit and not slow" $(ARGS)

.PHONY: test-unit-parallel
test-unit-parallel: $(STAMP) ## Unit tests on every core
	$(PYTEST) $(PARALLEL) -m "unit and not slow" $(ARGS)

.PHONY: test-integration
test-integration: $(STAMP) ## Integration tests (moto server, or AWS_ENDPOINT_URL)
	$(PYTEST) -m "integration and not slow" $(ARGS)

.PHONY: test-slow
test-slow: $(STAMP) ## The slow tier and the shortened soak test (not in make test)
	$(PYTEST) $(PARALLEL) -m "slow or soak" $(ARGS)

.PHONY: test-performance
test-performance: bench ## The benchmarks, then a significant regression against bench/baseline.json fails
	$(BIN)/python -m scripts.performance_baseline check --baseline bench/baseline.json --results bench/results

.PHONY: test-chaos
test-chaos: $(STAMP) ## Fault-injection tier (loopback only, self-stopping); asks first
	$(call confirm,The chaos tier replays sessions under injected faults for several minutes.)
	$(PYTEST) -m chaos $(ARGS)

.PHONY: test-operational
test-operational: $(STAMP) ## Restart tier (components stopped and restarted mid-stream); asks first
	$(call confirm,The operational tier stops and restarts local components.)
	$(PYTEST) -m operational $(ARGS)

SOAK_RECORDINGS := $(wildcard ../shared/data/binance/spot_*.gz)
SOAK_SOURCE := $(if $(SOAK_RECORDINGS),--replay $(SOAK_RECORDINGS),)

.PHONY: test-soak-1h
test-soak-1h: $(STAMP) ## k2 soak for 1 hour (recordings if ../shared has them); report in bench/soak/
	$(call confirm,The soak runs for one hour.)
	$(BIN)/k2 soak --duration 1h $(SOAK_SOURCE) $(ARGS)

.PHONY: test-soak-24h
test-soak-24h: $(STAMP) ## k2 soak for 24 hours: CI only (the soak-weekly workflow)
	@if [ "$(CI)" != "true" ]; then echo "test-soak-24h runs only in CI (CI=true): it occupies a machine for a day" >&2; exit 1; fi
	$(BIN)/k2 soak --duration 24h $(SOAK_SOURCE) $(ARGS)

.PHONY: test-pr
test-pr: ci-quality test ## What a pull request must pass: lint, types, the default suite

.PHONY: test-pr-full
test-pr-full: test-pr sam-validate test-integration-localstack ## Before merge: + SAM checks, + the integration tier on LocalStack

.PHONY: test-post-merge
test-post-merge: ci-quality coverage ## After merge: the default suite with coverage and the quality gate

.PHONY: coverage
coverage: $(STAMP) ## Default suite with coverage; writes coverage.xml and junit.xml, then runs the quality gate
	$(PYTEST) $(PARALLEL) --cov=functions --cov=connector --cov-report=xml --cov-report=term:skip-covered --junitxml=junit.xml $(ARGS)
	$(BIN)/python -m scripts.quality_gate --coverage coverage.xml --junit junit.xml

.PHONY: ci-test
ci-test: test ## The tests CI runs (= .ci/run = make test)

.PHONY: ci-all
ci-all: ci-quality ci-test sam-validate ## Everything CI checks on a pull request

.PHONY: localstack-up
localstack-up: ## LocalStack in host mode (no Docker, own venv in .localstack/) until Ctrl-C
	infra/localstack/host.sh up

.PHONY: test-integration-localstack
test-integration-localstack: $(STAMP) ## The integration tier against LocalStack: host mode, or LOCALSTACK_URL if one runs
	@if [ -n "$(LOCALSTACK_URL)" ]; then \
		AWS_ENDPOINT_URL=$(LOCALSTACK_URL) GLUE_CATALOG=off $(BIN)/pytest -q -m integration $(ARGS); \
	else \
		GLUE_CATALOG=off infra/localstack/host.sh run $(BIN)/pytest -q -m integration $(ARGS); \
	fi

.PHONY: connector-replay
connector-replay: $(STAMP) ## Replay server on :9000 with generated frames (10x pace), for trying the connector
	$(BIN)/k2-replay-server --generate BTCUSDT,ETHUSDT --speed 10 --port 9000

.PHONY: sam-validate
sam-validate: $(SAM) ## sam validate --lint and cfn-lint on template.yaml (offline)
	$(SAM_ENV) $(SAM) validate --lint
	$(BIN)/cfn-lint template.yaml

.PHONY: sam-build
sam-build: $(SAM) ## sam build: one slimmed package per function in .aws-sam/ (no Docker)
	$(SAM_ENV) $(SAM) build $(ARGS)

.PHONY: docker-build
docker-build: ## Build the connector image (needs a Docker engine)
	docker build -f connector/Dockerfile -t k2-connector .

.PHONY: bench
bench: $(STAMP) ## Benchmarks: print figures and PASS/FAIL against targets, write bench/results/*.json
	$(BIN)/k2 bench

.PHONY: lint
lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: type-check
type-check: $(STAMP) ## mypy
	$(BIN)/mypy

.PHONY: ci-quality
ci-quality: lint type-check ## Lint and type-check, as CI runs them

.PHONY: help
help: ## List targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-22s %s\n", $$1, $$2}'
