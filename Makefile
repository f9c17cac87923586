# One place for the project's commands. Every target sets up .venv first, from pyproject.toml.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup serve test lint bench schema clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

serve: setup  ## run the service on the embedded SQLite store (HTTPS on 127.0.0.1:8443)
	$(BIN)/compute-gallery serve $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## the whole suite: lint, types, then every test against a real service
	bash tools/setup-postgres.sh
	$(BIN)/python tools/derive_schema.py --check
	$(BIN)/pytest -q -n 2 -p no:cacheprovider

bench: setup  ## the benchmarks in bench/, figures as ratios to a same-run baseline
	$(BIN)/python -m bench
	$(BIN)/python -m bench.instances

schema: setup  ## regenerate compute_gallery/schema/galleryrp.json from ../shared/azure-spec
	$(BIN)/python tools/derive_schema.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
