# hatch-signedimp: `make demo` and `make test` set up everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv

.PHONY: demo test bench clean

# The demo's virtual environment: this project (editable) with its test and build tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# The whole suite on every Python 3.10-3.13 that pyenv has (or on python3 without pyenv).
test:
	bash scripts/test-all.sh

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_signature.py
	$(VENV)/bin/python benchmarks/bench_import.py
	$(VENV)/bin/python benchmarks/bench_build.py
	$(VENV)/bin/python benchmarks/bench_zipapp.py

clean:
	rm -rf $(VENV) .venv-* dist build .pytest_cache
