# hatch-signedimp: `make demo` and `make test` set up everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv

.PHONY: demo test quick lint bench clean

# The demo's virtual environment: this project (editable) with its test and build tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,dev]'
	touch $@

demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# The whole suite on every Python 3.10-3.13 that pyenv has (or on python3 without pyenv).
test:
	bash scripts/test-all.sh

# The developer's inner loop: one interpreter, lint and types, then the suite in parallel
# without the heavy tests (real packages from PyPI, freezers). `make test` is what CI runs.
QUICK_PYTHON ?= $(shell pyenv prefix 3.12 2>/dev/null || pyenv prefix $$(pyenv latest 3.12 2>/dev/null) 2>/dev/null)
quick:
	bash scripts/make-venv.sh "$(if $(QUICK_PYTHON),$(QUICK_PYTHON)/bin/python3,$(PYTHON))" .venv-quick
	bash scripts/lint.sh .venv-quick
	.venv-quick/bin/python -m pytest -q -p no:cacheprovider -n 2 -m "not heavy"

lint:
	bash scripts/make-venv.sh "$(PYTHON)" .venv-quick
	bash scripts/lint.sh .venv-quick

# Every script in benchmarks/ (each writes or prints its table for benchmarks/README.md);
# the freezers (bench_frozen.py) and shiv and pex (bench_zipapp_real.py) are installed first.
BENCHES := $(sort $(wildcard benchmarks/bench_*.py))
bench: $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet -e '.[freeze]' shiv pex
	set -e; for b in $(BENCHES); do echo "== $$b"; $(VENV)/bin/python $$b; done

clean:
	rm -rf $(VENV) .venv-* dist build .pytest_cache
