# Two commands do all the set-up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install whenever the dependency list changes, so an old venv is refreshed rather than trusted.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
DEMO_ARGS ?=
CONVERT_ARGS ?=
# What `make convert` converts: python -m train's hand-over (train first if it is not there).
HANDOVER := runs/latest/models/linreg.json

.PHONY: demo test test-fast lint format docs venv ha-venv emhass-venv train convert bench check-pi clean

venv: $(STAMP)

# setup.py and the C sources too: the editable install compiles the own runtime's extension in place.
$(STAMP): pyproject.toml setup.py device/models/_wattcast_lstm.c $(wildcard firmware/runtime/*.[ch])
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# A third-party program's own venv, never the project's: $(1) the venv, $(2) the Python to make it with, $(3) its
# pinned requirements; the stamp ($@) is renewed when they change.
define side_venv
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -r $(3)
	rm -f $(1)/.installed-*
	touch $@
endef

# Home Assistant Core in its own venv, for the tests against HA's own code (tests/test_homeassistant_core.py):
# HA 2025.x needs Python 3.13, which pyenv keeps under ~/.pyenv/versions (`pyenv install 3.13`); HA_PYTHON= to point
# elsewhere. Re-installed when tests/ha/requirements.txt (the pinned HA version) changes; a few minutes (8 on a busy
# 2-core machine).
HA_VENV ?= .ha-venv
# (pyenv's shim is not used: it refuses to run a version that is not the selected one).
HA_PYTHON ?= $(lastword $(wildcard /usr/bin/python3.13 /usr/local/bin/python3.13 \
	$(HOME)/.pyenv/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.13*/bin/python3.13))
HA_STAMP := $(HA_VENV)/.installed-$(shell cksum tests/ha/requirements.txt | cut -d' ' -f1)

ha-venv: $(HA_STAMP)

$(HA_STAMP): tests/ha/requirements.txt
	@test -n "$(HA_PYTHON)" || { echo "Python 3.13 not found: pyenv install 3.13, or make ha-venv HA_PYTHON=..."; exit 1; }
	$(call side_venv,$(HA_VENV),$(HA_PYTHON),$<)

# EMHASS (the energy optimiser) in a venv of its own, for the tests and the bench that run it: never in the project's.
EMHASS_VENV ?= .emhass-venv
# emhass 0.18 needs Python >= 3.11.
EMHASS_PYTHON ?= python3
EMHASS_STAMP := $(EMHASS_VENV)/.installed-$(shell cksum tests/emhass/requirements.txt | cut -d' ' -f1)

emhass-venv: $(EMHASS_STAMP)

$(EMHASS_STAMP): tests/emhass/requirements.txt
	$(call side_venv,$(EMHASS_VENV),$(EMHASS_PYTHON),$<)

demo: venv
	$(BIN)/python -m simulator.demo $(DEMO_ARGS)

# The whole suite: real brokers, TensorFlow training and conversion, the firmware under QEMU.
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tests only (no training, no broker, no emulator): the loop to run while editing.
# Two workers (pytest-xdist): these tests share no broker, port or file, and collection dominates a single run.
test-fast: venv
	$(BIN)/python -m pytest -n 2 -m "not slow and not broker" $(PYTEST_ARGS)

# Style and types: ruff (format check and rules, pyproject.toml) and mypy (strict on device/, checked on the rest).
lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# Rewrites the code in the project's style (what `make lint` checks) and fixes what ruff can.
format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The documentation site (mkdocs.yml, docs/) into build/site; --strict fails on a broken link or a page left out.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

train: venv
	$(BIN)/python -m train

$(HANDOVER): | venv
	$(BIN)/python -m train --models persistence trend_line linreg seed_lstm

# Converts, never trains; refuses to drop models the committed firmware_assets/ holds (CONVERT_ARGS=--force does).
convert: $(HANDOVER) | venv
	$(BIN)/python -m convert.quantize $(CONVERT_ARGS)

# Tables, not pass/fail: each prints its medians side by side (cluster needs nats-server, firmware the ARM toolchain
# and QEMU).
bench: venv
	$(BIN)/python -m bench.inference
	taskset -c 0 $(BIN)/python -m bench.own_runtime
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.resample
	$(BIN)/python -m bench.cluster
	$(BIN)/python -m bench.firmware

# Every device dependency must have a wheel for 64-bit Raspberry Pi OS (Python 3.11, aarch64).
check-pi: venv
	PYTHON=$(BIN)/python deploy/check-pi-wheels.sh build/check-pi

clean:
	rm -rf build runs .pytest_cache
