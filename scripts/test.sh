#!/usr/bin/env bash
# Runs the whole test suite: lint, then every test on SQLite and on a real PostgreSQL server
# that the tests start themselves (Debian's postgresql package is installed when missing).
source "$(dirname "$0")/_env.sh"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "Installing the PostgreSQL server (Debian package postgresql)..."
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
ruff check .
python -m pytest "$@"
