#!/usr/bin/env bash
# A separate venv with a real LiteLLM proxy, for tests/integration/test_litellm_proxy.py.
#
#   scripts/litellm-venv.sh        create/refresh .venv-litellm/ in the repo root (idempotent)
#
# LiteLLM is a separate service with its own pins (rich, fastapi, ...) that clash with Prefect's, so
# it never goes into irflow's .venv. Only the install step uses the network (PyPI); the proxy itself
# then runs offline: mock model, no database (its key management needs Prisma, which downloads
# engines at run time), and the cost map read from the package (LITELLM_LOCAL_MODEL_COST_MAP).
#
# Version: pinned exactly, to a release a month old. 1.82.7 and 1.82.8 were published compromised
# (a credential stealer, in 1.82.8 via a .pth file that runs at every Python start); 1.107.0 is gone
# from PyPI too, and the pin is older than it. The wheel is checked against PyPI's sha256 for the
# pin, and the venv is refused if any package dropped a .pth file that runs code at start-up.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION=1.106.4
# sha256 of every file PyPI has for litellm 1.106.4 (pip picks the one for this platform).
LITELLM_SHA256="
d4cd1c1cab5c1e7f32d6a06a74e88176575fcbf427e8a4b6a434207aca007fb4
1c2b7d072a47c3f04032764d8143ed6ade8c354a331f4ad5ab9b9d5b1ba2dd4c
7dd40a6c2a495bdf0b80151d140c8b65fe77f7fecadef989c244d78c646c3a97
9f36a1d4a58fec0286e87f1bae5eab2819077b28efb9d77a310a0d78b4ae07f5
fb5dbe12d8789cc8c44dcf6a7f76eeef5e219007384b6a0ac74b3784203c216c
9ea61a1660528d5d72459acefa38762de3bda3c20fe1f44eab674ec3b72f9238
1dc78af5a710715b1807a73d1b378d4d1fd82a4f4a13e45179b76287cbbabba9
f99a2c5615f26c7cb3b38b3d7657643d866852495a1d48b8c847b27cc1727949
"
VENV=.venv-litellm
STAMP=$VENV/.irflow-litellm-installed
WANT="litellm[proxy]==$LITELLM_VERSION"

if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && [ -x "$VENV/bin/litellm" ]; then
  exit 0
fi

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then echo "$py"; return; fi
  done
  echo "litellm-venv: needs Python 3.11 or newer on PATH (or set PYTHON=/path/to/python)" >&2
  exit 1
}

echo "==> installing $WANT into $VENV (first run: ~750 MB, about a minute)" >&2
rm -f "$STAMP"
[ -x "$VENV/bin/python" ] || "$(find_python)" -m venv "$VENV"
# -qq: errors only (a pip.conf naming absent local indexes warns once per package otherwise).
pip=("$VENV/bin/python" -m pip -qq --disable-pip-version-check --no-input)

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
"${pip[@]}" download --no-deps --only-binary=:all: -d "$download" "litellm==$LITELLM_VERSION" \
  || "${pip[@]}" download --no-deps -d "$download" "litellm==$LITELLM_VERSION"
file=$(ls "$download"/litellm-*)
got=$(sha256sum "$file" | cut -d' ' -f1)
if ! grep -qx "$got" <<<"$LITELLM_SHA256"; then
  echo "litellm-venv: $(basename "$file") has sha256 $got, not PyPI's for $LITELLM_VERSION: refusing it" >&2
  exit 1
fi
"${pip[@]}" install "${file}[proxy]"

site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# A .pth line starting with "import" runs at every interpreter start (the 1.82.8 payload's trick);
# setuptools' distutils shim is the one such file a clean venv has.
bad=$(grep -l '^import' "$site"/*.pth 2>/dev/null | grep -v '/distutils-precedence.pth$' || true)
if [ -n "$bad" ]; then
  echo "litellm-venv: unexpected start-up code in $bad: refusing this venv" >&2
  exit 1
fi
"$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')"
echo "$WANT" > "$STAMP"
