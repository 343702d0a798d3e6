# stepauth — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK_NAME ?= stepauth
HOST ?= 127.0.0.1
PORT ?= 8080
AWS_PORT ?= 4566
PYTEST_ARGS ?=

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

SETUP_STAMP := $(VENV)/.setup-done

.PHONY: help setup dev test lint synth clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(SETUP_STAMP): pyproject.toml package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "stepauth needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --silent
	@touch $@

setup: $(SETUP_STAMP) ## create .venv and node_modules (Python and Node tools, pinned)

dev: setup ## run the service on the embedded local cloud (API on http://127.0.0.1:8080)
	$(BIN)/stepauth local --host $(HOST) --port $(PORT) --aws-port $(AWS_PORT) --stack-name $(STACK_NAME)

test: setup ## run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup ## ruff on all Python code
	$(BIN)/ruff check .

synth: setup ## synthesize the CloudFormation template into cdk.out/ (offline, no AWS credentials)
	cdk synth --quiet -c stack_name=$(STACK_NAME)

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +
