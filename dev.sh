#!/usr/bin/env bash
# irflow's two commands on a fresh clone:
#   ./dev.sh demo    set up .venv and run `irflow demo` on embedded defaults
#   ./dev.sh test    set up .venv and run the whole test suite (what CI runs)
# Set-up is idempotent: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then echo "$py"; return; fi
  done
  echo "irflow needs Python 3.11 or newer on PATH (or set PYTHON=/path/to/python)" >&2
  exit 1
}

setup() {
  local stamp=.venv/.irflow-installed want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    "$(find_python)" -m venv .venv
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing irflow and its dependencies into .venv (first run takes a minute or two)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; exec .venv/bin/irflow demo "$@" ;;
  test) setup; scripts/litellm-venv.sh; exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: ./dev.sh demo | test [pytest args] | setup" >&2; exit 2 ;;
esac
