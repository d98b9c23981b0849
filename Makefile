# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## run: install shipline and run the end-to-end demo
run: install
	$(BIN)/shipline demo
	@echo
	@echo "shipline is installed in $(VENV): run '. $(VENV)/bin/activate' once per shell,"
	@echo "then 'shipline --help' (or run $(BIN)/shipline directly)."

## test: install with the test extras; lint, type-check and run the whole suite
test: install-test lint typecheck unit

lint: install-test
	$(BIN)/ruff check src tests benchmarks infra
	$(BIN)/ruff format --check src tests benchmarks infra

typecheck: install-test
	$(BIN)/mypy

unit: install-test
	$(BIN)/pytest

## bench: the timeline benchmark (minutes; not part of the tests)
bench: install-test
	$(BIN)/python -m benchmarks.timeline

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache .hypothesis

# AWS (docs/aws.md) ------------------------------------------------------------
.PHONY: synth lambda-bundle
CDK_ENV ?= dev
LAMBDA_BUNDLE ?= build/lambda
LAMBDA_PYTHON ?= 3.12

## synth: the CDK app's CloudFormation into cdk.out/ (offline: no AWS account, no Docker,
## no Node.js CLI); placeholder Lambda code if build/lambda is absent (never deploy that)
synth: install-test
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 CDK_OUTDIR=$(CURDIR)/cdk.out \
		CDK_CONTEXT_JSON='{"env": "$(CDK_ENV)", "allow_placeholder": true}' $(BIN)/python infra/app.py
	@echo "synthesized Shipline-$(CDK_ENV) into cdk.out/"

## lambda-bundle: shipline and its runtime dependencies for Lambda (Python 3.12, x86_64, glibc 2.34)
lambda-bundle: | $(BIN)/python
	rm -rf $(LAMBDA_BUNDLE) build/wheels
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir build/wheels .
	$(BIN)/python -m pip install --quiet --target $(LAMBDA_BUNDLE) \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_34_x86_64 --implementation cp \
		--python-version $(LAMBDA_PYTHON) --only-binary=:all: build/wheels/shipline-*.whl
	# Lambda allows 250 MB unzipped: drop what the handlers never load (the runtime has
	# boto3; numpy serves only `shipline generate`).
	cd $(LAMBDA_BUNDLE) && rm -rf boto3 botocore s3transfer uvloop watchfiles httptools numpy numpy.libs \
		pyarrow/include pyarrow/tests pyarrow/*flight* pyarrow/*gandiva* \
		pyarrow/libarrow_python.so pyarrow/libarrow_python.so.*.*.*
	find $(LAMBDA_BUNDLE) \( -name __pycache__ -o -name tests \) -type d -prune -exec rm -rf {} +
	find $(LAMBDA_BUNDLE) \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete
	du -sh --apparent-size $(LAMBDA_BUNDLE)
