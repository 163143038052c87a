#!/bin/sh
# Run a benchmark from nothing: the project's environment, and wrk (Debian) for the HTTP variant.
#   sh bench/run.sh transitions --n 2000 --rounds 3
#   sh bench/run.sh sweep --n 1000000 --due 100000
#   sh bench/run.sh outbox --events 5000 --per-event 30
set -eu
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
name="$1"; shift
if [ "$name" = transitions ] && ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk from Debian" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
    else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
fi
exec uv run python -m "bench.$name" "$@"
