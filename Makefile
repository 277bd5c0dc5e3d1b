# Two commands on a fresh machine: `make run` (the app on the embedded model) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# llama-cpp-python compiles llama.cpp from source (minutes); pip caches the built wheel.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: install run test test-fast bench browser clean

install: $(STAMP)

# the lexical scorer's hot modules are compiled with mypyc at install (setup.py): edit one, and the next
# install compiles it again (until then the process runs its source: simulator/rubric/native.py)
NATIVE_SOURCES := setup.py simulator/rubric/text.py simulator/rubric/gate.py simulator/rubric/detectors.py \
	simulator/rubric/linear.py simulator/rubric/scorer.py

$(STAMP): pyproject.toml $(NATIVE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[embedded,test]"
	@$(PY) -c "from simulator.rubric import native; print('lexical scorer:', native.variant())"
	touch $(STAMP)

run: install
	$(PY) -m simulator prepare-model
	$(PY) app.py

# Browser tests drive Debian's Chromium; install it when missing (needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

test: install browser
	$(PY) -m simulator prepare-model
	SIMULATOR_EXPECT_COMPILED=1 $(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not embedded and not browser"

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build
	rm -f simulator/rubric/*.so simulator/rubric/_compiled.json
