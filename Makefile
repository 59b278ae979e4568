# The two commands of the README:
#   make demo   installs everything, then trains and evaluates the demo model
#   make test   installs everything, then runs the test suite
# VENV=/path/to/env selects another environment (default: ./.venv).
VENV ?= $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
export VENV
# Parallel test workers (pytest-xdist); 0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: install test demo

install:
	bash tools/install.sh

test: install
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --durations=20 tests

demo: install
	PYTHON=$(PYTHON) bash tools/run_demo.sh
