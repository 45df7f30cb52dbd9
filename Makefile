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

# The console's front-end packages (npm registry, lock committed), copied into the package.
CONSOLE := console/static/vendor/manifest.json
$(CONSOLE): console/frontend/package-lock.json console/frontend/build.mjs
	npm ci --prefix console/frontend --no-audit --no-fund --silent
	npm run --prefix console/frontend --silent build

up: $(STAMP) $(CONSOLE)
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

# The browser tests' Chromium: Debian's package (Playwright downloads no browser).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }; }

# Two pytest workers (pytest-xdist): most tests wait on servers, so two share the 2 cores.
test: $(STAMP) $(OIDC) $(CONSOLE) prometheus chromium
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist worksteal

clean:
	rm -rf $(VENV) build *.egg-info tests/oidc/node_modules console/frontend/node_modules console/static/vendor
