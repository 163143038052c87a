#!/bin/sh
# Make the project runnable on a fresh machine: uv (installed from PyPI when missing), then the
# locked dependencies in .venv. Sourced by serve.sh and test.sh.
set -eu
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
    export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
    echo "bootstrap: uv not found, installing it from PyPI" >&2
    python3 -m pip install --user --quiet uv 2>/dev/null \
        || python3 -m pip install --user --quiet --break-system-packages uv
    export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet
sh scripts/system-packages.sh
