# Two commands matter (see README.md):
#   make demo   - set up a virtualenv, install, and run a local demo grid on 127.0.0.1
#   make test   - set up the same virtualenv and run the whole test suite

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_DIR ?= demo-grid

.PHONY: all install test test-fast demo demo-stop clean

all: install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py src/allmydata/_gf256.c
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Byte-compiled modules for the nodes the tests and the demo start: an
# editable install leaves src/ uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set every node process would compile ~80 modules from source (~0.1 s
# and ~2 MiB more at each start).  Quick when nothing changed.
install: $(VENV)/.installed
	$(BIN)/python -m compileall -q src/allmydata > /dev/null

test: install
	$(BIN)/pytest -p no:cacheprovider src/allmydata/test

# everything but the tests that start process grids, the reference Tahoe-LAFS
# or the misc/ tools
test-fast: install
	$(BIN)/pytest -p no:cacheprovider -m "not integration and not interop and not misc" src/allmydata/test

demo: install
	$(BIN)/python misc/demo_grid.py start $(DEMO_DIR)

demo-stop: install
	$(BIN)/python misc/demo_grid.py stop $(DEMO_DIR)

clean:
	rm -rf build dist src/*.egg-info .pytest_cache
