# The two commands of the README: `make plan` and `make test`. Both create .venv and
# install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
PLAN_DIR ?= build/plans

.PHONY: venv plan test lint typecheck unit bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

plan: venv
	$(PY) -m meshctl plan --all --out $(PLAN_DIR)
	$(PY) -m meshctl policy check $(PLAN_DIR)/*.json --markdown $(PLAN_DIR)/policy.md

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -n 2 -q

test: lint typecheck unit

bench: venv
	$(PY) bench/plan_bench.py
	$(PY) bench/sim_bench.py
	$(PY) bench/capacity_bench.py

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache

# `make gateway`: the inference gateway on 127.0.0.1 against moto_server and a local
# onnxruntime backend, a demo user seeded and curl examples printed; Ctrl-C stops all.
.PHONY: gateway
gateway: venv
	$(PY) -m gateway.devstack
