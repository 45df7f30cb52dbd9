# The two commands a new user needs: `make up` (local stack + demo) and `make test`.
# Each creates the virtual environment it needs; nothing else has to be installed first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up down health test lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/nightwatch up --demo

down: $(STAMP)
	$(BIN)/nightwatch down

health: $(STAMP)
	$(BIN)/nightwatch health

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests' real OpenID provider (oidc-provider from the npm registry, its lock committed).
OIDC := tests/oidc/node_modules/.installed
$(OIDC): tests/oidc/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/oidc --no-audit --no-fund --silent && touch $(OIDC); fi

# The tests' real Prometheus: Debian's package (installed once, as root, when missing).
.PHONY: prometheus
prometheus:
	@command -v prometheus >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; }; }

test: $(STAMP) $(OIDC) prometheus
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info tests/oidc/node_modules
