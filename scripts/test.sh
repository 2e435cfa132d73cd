#!/usr/bin/env bash
# Runs the whole test suite: lint, the import contract (import-linter), the types (mypy), then
# every test on SQLite and on a real PostgreSQL server that the tests start themselves (Debian's postgresql package is installed when missing), and
# with pdftoppm (poppler-utils) to render the reports' pages, Chromium and axe-core for the console's
# browser tests.
source "$(dirname "$0")/_env.sh"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "Installing the PostgreSQL server (Debian package postgresql)..."
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
if ! command -v pdftoppm >/dev/null 2>&1; then
  echo "Installing pdftoppm (Debian package poppler-utils) to render report pages..."
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Chromium (Debian package chromium) for the console's browser tests..."
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -f tests/console/node_modules/axe-core/axe.min.js ]; then
  echo "Installing axe-core (npm, pinned in tests/console/package.json) for the accessibility checks..."
  npm ci --prefix tests/console --no-audit --no-fund --silent
fi
ruff check .
lint-imports --no-cache
mypy
python -m pytest "$@"
