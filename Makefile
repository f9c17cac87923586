# One place for the project's commands. Every target sets up .venv first, from pyproject.toml.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The real Azure CLI the tests drive, in a virtual environment of its own (its dependencies
# pin other versions of the Azure libraries than the tests use).
AZURE_CLI_VENV ?= .venv-azure-cli
AZURE_CLI_VERSION := 2.91.0

.PHONY: setup azure-cli serve test lint bench schema clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

azure-cli: $(AZURE_CLI_VENV)/.installed-$(AZURE_CLI_VERSION)

# Installed once per clone (it takes minutes); again only when the pinned version changes.
$(AZURE_CLI_VENV)/.installed-$(AZURE_CLI_VERSION):
	$(PYTHON) -m venv --clear $(AZURE_CLI_VENV)
	$(AZURE_CLI_VENV)/bin/pip install --quiet --disable-pip-version-check 'azure-cli==$(AZURE_CLI_VERSION)'
	touch $@

# Azurite, the Azure Storage emulator the tests and benchmarks read package sources from.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

serve: setup  ## run the service on the embedded SQLite store (HTTPS on 127.0.0.1:8443)
	$(BIN)/compute-gallery serve $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint azure-cli  ## the whole suite: lint, types, then every test against a real service
	bash tools/setup-postgres.sh
	$(BIN)/python tools/derive_schema.py --check
	AZURE_CLI=$(abspath $(AZURE_CLI_VENV))/bin/az $(BIN)/pytest -q -n 2 -p no:cacheprovider

bench: setup  ## the benchmarks in bench/, figures as ratios to a same-run baseline
	$(BIN)/python -m bench
	$(BIN)/python -m bench.replication
	$(BIN)/python -m bench.instances

schema: setup  ## regenerate compute_gallery/schema/galleryrp.json from ../shared/azure-spec
	$(BIN)/python tools/derive_schema.py

clean:
	rm -rf $(VENV) $(AZURE_CLI_VENV) node_modules .mypy_cache .ruff_cache .pytest_cache build *.egg-info
