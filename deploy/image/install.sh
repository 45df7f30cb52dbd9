#!/usr/bin/env bash
# How Nightwatch is installed into an image (deploy/image/Dockerfile runs exactly this, and
# tests/deploy/test_packaging.py runs it into a fresh virtual environment):
#   install.sh <source folder> <virtual environment>
# The console's front-end files must be built first (`make` target console assets, or the
# Dockerfile's node stage): they ship inside the Python package.
set -euo pipefail
source_dir="$1"
venv="$2"
test -f "$source_dir/console/static/vendor/manifest.json" || {
  echo "install.sh: the console's front-end files are not built (npm ci && npm run build in console/frontend)" >&2
  exit 2
}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
"$venv/bin/pip" wheel --quiet --no-cache-dir --no-deps --wheel-dir "$venv/wheels" "$source_dir"
"$venv/bin/pip" install --quiet --no-cache-dir "$venv"/wheels/nightwatch-*.whl
rm -rf "$venv/wheels"
"$venv/bin/nightwatch" --help >/dev/null
