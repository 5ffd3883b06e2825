# K2 Serverless — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
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

.PHONY: test
test: $(STAMP) ## Default suite (unit + integration; excludes slow, chaos, operational, soak, performance)
	$(BIN)/pytest -q

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only
	$(BIN)/pytest -q -m unit

.PHONY: test-integration
test-integration: $(STAMP) ## Integration tests (moto server, or AWS_ENDPOINT_URL)
	$(BIN)/pytest -q -m integration

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
	$(BIN)/python -m bench.bench_normalize
	$(BIN)/python -m bench.bench_connector
	$(BIN)/python -m bench.bench_lake
	$(BIN)/python -m bench.bench_query

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
