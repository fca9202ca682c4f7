# `make search` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install search test test-long test-fast test-exports fuzz lint bench bench-search general clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

search: install
	$(BIN)/actsearch search

# Two pytest workers, a test file each at a time: most tests wait on subprocesses, Ray and
# TensorFlow start-up rather than compute, so two files overlap well even on 2 cores.
# Files go out longest first, by measured times (tests/file_order.py). tests/with-deps.sh
# installs Chromium and starts a PostgreSQL server first when they are missing.
# `make test` leaves out the `long` tests (whole searches stopped and resumed, faults on a
# real Ray pool, the cluster recipe): `make test-long` runs them, and so does CI.
TEST_WORKERS ?= 2
PYTEST := bash tests/with-deps.sh $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: install
	$(PYTEST) -m "not long" --durations=15

test-long: install
	$(PYTEST) -m long --durations=10

# The full canonical-form fuzz: 20,000 random trees, each canonicalised within 2 s
# (`make test` runs the first 1,000 of the same sequence).
fuzz: install
	ACTSEARCH_FUZZ_TREES=20000 $(BIN)/python -m pytest tests/test_expr_fuzz.py -p no:cacheprovider

# The development lane: everything but real trainings and Ray (the `slow` marker).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# The exports for PyTorch, JAX and every Keras backend against the real frameworks (CPU builds;
# the `frameworks` extra). Not in `make test`: they need those frameworks installed.
FRAMEWORKS_STAMP := $(VENV)/.frameworks-stamp
$(FRAMEWORKS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,frameworks]"
	touch $(FRAMEWORKS_STAMP)

test-exports: $(FRAMEWORKS_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --override-ini "addopts=-ra" --durations=10 tests/frameworks

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/train.py --part panel

# Strategies compared at equal trainings (hours on 2 cores; SIZE=smoke checks it in minutes):
# on mnist1d-mlp with each pick validated, then on the teacher family (the share of each
# teacher's gap the picks close, docs/ground-truth.md).
SIZE ?= full
bench-search: install
	$(BIN)/python benchmarks/search.py --size $(SIZE)
	$(BIN)/python benchmarks/ground_truth.py --size $(SIZE)

# The `general` space: three searches, each pick validated on every panel task; writes
# docs/general.md (about an hour on 2 cores; finished searches and validations are reused).
general: install
	$(BIN)/python benchmarks/general.py

clean:
	rm -rf $(VENV) runs/*.db runs/*.db-* runs/exports
