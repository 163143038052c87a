#!/bin/sh
# Make the project runnable on a fresh machine: uv (installed from PyPI when missing), then the
# locked dependencies in .venv. Sourced by serve.sh and test.sh.
set -eu
cd "$(dirname "$0")/.."
path_before="$PATH"
if ! command -v uv >/dev/null 2>&1; then
    export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
    echo "bootstrap: uv not found, installing it from PyPI" >&2
    python3 -m pip install --user --quiet uv 2>/dev/null \
        || python3 -m pip install --user --quiet --break-system-packages uv
    export PATH="$HOME/.local/bin:$PATH"
fi
if [ ! -d .venv ]; then
    echo "bootstrap: installing the project's Python packages into .venv (uv sync; a minute or two the first time)" >&2
fi
uv sync --frozen --quiet
sh scripts/system-packages.sh
case ":$path_before:" in
    *":$HOME/.local/bin:"*) ;;
    *) if [ "$(command -v uv)" = "$HOME/.local/bin/uv" ]; then
           echo "bootstrap: uv is in $HOME/.local/bin, which your shell's PATH lacks; for 'uv run hazard ...' in a new shell, first run:  export PATH=\"\$HOME/.local/bin:\$PATH\"" >&2
       fi ;;
esac
