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
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not exhaustive"

# Everything, including the exhaustive property families (a few more minutes).
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) out
