# The two commands of the README:
#   make demo   installs everything, then trains and evaluates the demo model
#   make test   installs everything, then runs the test suite
# STACK=onedl runs either on the maintained onedl-* forks of the OpenMMLab
# packages (in their own environment, ./.venv-onedl) instead of the original
# packages (STACK=mmlab, ./.venv); `make test-all` tests both stacks.
# VENV=/path/to/env selects another environment.
STACK ?= mmlab
ifeq ($(STACK),onedl)
VENV ?= $(CURDIR)/.venv-onedl
else
VENV ?= $(CURDIR)/.venv
endif
PYTHON := $(VENV)/bin/python
export VENV STACK
# Parallel test workers (pytest-xdist); 0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: install test test-all demo

install:
	bash tools/install.sh

test: install
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --durations=20 tests

test-all:
	$(MAKE) test STACK=mmlab VENV=$(CURDIR)/.venv
	$(MAKE) test STACK=onedl VENV=$(CURDIR)/.venv-onedl

demo: install
	PYTHON=$(PYTHON) bash tools/run_demo.sh
