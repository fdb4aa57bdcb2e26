# The two set-up commands of the README. Each creates .venv and installs satode if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: the quickstart sweep (fit + 48 gains), results in out/quickstart/.
demo: $(STAMP)
	$(BIN)/satode sweep configs/quickstart.toml --out out/quickstart

# The whole test suite, float64, as CI runs it.
test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out
