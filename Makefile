# stepauth — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK_NAME ?= stepauth
# Extra CDK arguments, e.g. CDK_ARGS="-c access_token_ttl_seconds=600 -c lambda_architecture=arm64"
CDK_ARGS ?=
# Where `make test-api` sends its requests: any deployment's API URL, the local server by default.
BASE_URL ?= http://127.0.0.1:8080
FORCE ?=
HOST ?= 127.0.0.1
# The local AWS endpoint (unauthenticated, holds the signing keys) binds here, not on HOST.
AWS_HOST ?= 127.0.0.1
PORT ?= 8080
AWS_PORT ?= 4566
PYTEST_ARGS ?=

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The pinned CDK CLI must never call home: no version check, no telemetry, no notices.
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Compiled modules are cached, outside the tree: where the environment forbids writing them
# (PYTHONDONTWRITEBYTECODE), every test process and child server compiles every module again.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/.build/pycache

SETUP_STAMP := $(VENV)/.setup-done
# Python dependencies are pinned with hashes in requirements.lock (runtime + dev, every platform)
# and installed by uv, itself pinned here; `make lock` re-resolves them from pyproject.toml.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
LOCK_COMMAND := $(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	--generate-hashes --quiet -o requirements.lock

CDK := cdk --no-version-reporting --no-notices
CDK_CONTEXT := -c stack_name=$(STACK_NAME) $(CDK_ARGS)

.PHONY: help setup lock dev test test-fast lint synth bootstrap diff deploy destroy test-api all clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(SETUP_STAMP): pyproject.toml requirements.lock package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "stepauth needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	npm ci --no-audit --no-fund --silent
	@touch $@

setup: $(SETUP_STAMP) ## create .venv and node_modules from the lock files (Python and Node, pinned)

lock: ## re-resolve requirements.lock from pyproject.toml (after changing a dependency)
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet "uv==$(UV_VERSION)"; }
	$(LOCK_COMMAND)

dev: setup ## run the service on the embedded local cloud (API on http://127.0.0.1:8080)
	$(BIN)/stepauth local --host $(HOST) --port $(PORT) --aws-host $(AWS_HOST) --aws-port $(AWS_PORT) --stack-name $(STACK_NAME)

.PHONY: bench
bench: setup ## benchmarks vs their floors (~11 min on 2 quiet cores); results in bench/results/latest.json
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

test: setup ## run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup ## the unit layer only: no synthesis, no local cloud (tests marked `cloud` left out)
	$(BIN)/pytest -m "not cloud" $(PYTEST_ARGS)

lint: setup ## ruff on all Python code: the checks and the format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

synth: setup ## synthesize the CloudFormation template into cdk.out/ (offline, no AWS credentials)
	$(CDK) synth --quiet $(CDK_CONTEXT)

bootstrap: setup ## once per AWS account and region: create the CDK bootstrap stack
	$(CDK) bootstrap $(CDK_CONTEXT)

diff: setup ## show what `make deploy` would change in the AWS account (STACK_NAME=…)
	$(CDK) diff $(CDK_CONTEXT)

deploy: diff ## deploy to AWS (runs diff first), then make sure the signing keys exist
	$(CDK) deploy --require-approval never $(CDK_CONTEXT)
	$(BIN)/stepauth keys init --stack-name $(STACK_NAME)

destroy: setup ## delete the stack from AWS; asks for confirmation unless FORCE=1
	@if [ "$(FORCE)" != "1" ]; then \
		read -r -p "Delete stack $(STACK_NAME) from AWS? Type the stack name to confirm: " answer; \
		if [ "$$answer" != "$(STACK_NAME)" ]; then echo "Not confirmed; nothing deleted."; exit 1; fi; \
	fi
	$(CDK) destroy --force $(CDK_CONTEXT)
	@$(MAKE) --no-print-directory destroy-leftovers

# The data a destroyed stack keeps (retain_data=true, the default) and how to delete it: a new
# deploy with the same STACK_NAME fails while these fixed names are taken.
.PHONY: destroy-leftovers
destroy-leftovers:
	@echo "Stack $(STACK_NAME) deleted. Kept on purpose (retain_data=true, the default):"
	@echo "  DynamoDB table   $(STACK_NAME)-table          (every user, session and audit record)"
	@echo "  secret           $(STACK_NAME)/signing-keys   (the private signing keys)"
	@echo "A new 'make deploy STACK_NAME=$(STACK_NAME)' fails while they exist. Either deploy under"
	@echo "another STACK_NAME, or delete them for good (this erases every account):"
	@echo "  aws dynamodb delete-table --table-name $(STACK_NAME)-table"
	@echo "  aws secretsmanager delete-secret --secret-id $(STACK_NAME)/signing-keys --force-delete-without-recovery"
	@echo "(Without --force-delete-without-recovery the secret's name stays taken for 7-30 days.)"

# The smoke tests read the authorizer cache TTL (their revocation bound) from the stack STACK_NAME:
# from the local cloud when BASE_URL is local, else from AWS (AWS_PROFILE, AWS_REGION …).
SMOKE_STACK := --stack-name $(STACK_NAME) $(if $(filter http://127.0.0.1:% http://localhost:%,$(BASE_URL)),--aws-endpoint-url http://127.0.0.1:$(AWS_PORT),)

test-api: setup ## smoke and integrity tests against a running deployment (BASE_URL=…, default the local server)
	$(BIN)/pytest smoke -q -p no:cacheprovider --base-url $(BASE_URL) $(SMOKE_STACK)

all: lint test synth ## lint, test and synthesize

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +
