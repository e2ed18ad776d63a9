# Two commands do all the set-up on a fresh machine:
#   make demo   - set up, then the main job (closed-loop drive in the embedded simulator)
#   make test   - set up, then the default test suite (lint included)
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-slow test-all bench distill clean

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

# The issue-10 distillation experiment on a GPU machine (docs/student_experiment.md);
# DISTILL_ARGS e.g. WORK=/tmp/distill TRAIN_S=1200
distill: setup
	env PY=$(PY) $(DISTILL_ARGS) bash scripts/distill_experiment.sh

clean:
	rm -rf build install log out .pytest_cache
