# Two commands do all the set-up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install whenever the dependency list changes, so an old venv is refreshed rather than trusted.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: demo test venv train convert bench check-pi clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: venv
	$(BIN)/python -m simulator.demo $(DEMO_ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

train: venv
	$(BIN)/python -m train

convert: venv
	$(BIN)/python -m convert.quantize

bench: venv
	$(BIN)/python -m bench.inference
	$(BIN)/python -m bench.throughput

# Every device dependency must have a wheel for 64-bit Raspberry Pi OS (Python 3.11, aarch64).
check-pi: venv
	PYTHON=$(BIN)/python deploy/check-pi-wheels.sh build/check-pi

clean:
	rm -rf build runs .pytest_cache
