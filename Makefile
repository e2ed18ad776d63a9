# Two commands do all the set-up on a fresh machine:
#   make demo   - set up, then the main job (closed-loop drive in the embedded simulator)
#   make test   - set up, then the default test suite (lint included)
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-slow test-all bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(VENV)/bin/orion-lite-demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -q -m "" $(PYTEST_ARGS)

clean:
	rm -rf build install log out .pytest_cache
