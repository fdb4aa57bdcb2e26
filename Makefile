# The two set-up commands of the README. Each creates .venv and installs satode if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: the quickstart sweep (fit + 48 gains), results in out/quickstart/.
demo: $(STAMP)
	$(BIN)/satode sweep configs/quickstart.toml --out out/quickstart

# The whole test suite, float64, as CI runs it: two worker processes (most of the time is XLA
# compilation, single-threaded), whole files per worker so module fixtures are built once.
# XLA's CPU JIT keeps every program it compiled mapped in memory (about three mappings each, never
# returned): one worker compiling the whole suite reached 49,000 of the kernel's 65,530
# (vm.max_map_count), and past it XLA aborts. So the suite runs as two halves in fresh workers.
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile
HALF_A := $(wildcard tests/test_[a-l]*.py)
HALF_B := $(wildcard tests/test_[m-z]*.py)

test: $(STAMP)
	$(PYTEST) -m "not exhaustive" $(HALF_A); a=$$?; \
	$(PYTEST) -m "not exhaustive" $(HALF_B); b=$$?; \
	test $$a -eq 0 && test $$b -eq 0

# Everything, including the exhaustive property families (a few more minutes).
test-all: $(STAMP)
	$(PYTEST) $(HALF_A); a=$$?; $(PYTEST) $(HALF_B); b=$$?; test $$a -eq 0 && test $$b -eq 0

clean:
	rm -rf $(VENV) out
