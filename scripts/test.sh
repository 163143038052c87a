#!/bin/sh
# Set up and run the whole test suite, on SQLite and on PostgreSQL. PostgreSQL comes from
# HAZARD_TEST_DATABASE_URL, else a Docker engine (testcontainers), else 127.0.0.1:5432, else a
# throwaway cluster from the machine's PostgreSQL binaries; the run fails when none can be had.
# The browser tests use Debian's Chromium and the Excel tests LibreOffice Calc, installed here when missing.
# Extra arguments go to pytest.
set -eu
. "$(dirname "$0")/bootstrap.sh"
sh scripts/system-packages.sh --browser
exec uv run pytest "$@"
