#!/bin/sh
# Set up and run the service on the embedded default (a SQLite file under ./var), or on the
# database in HAZARD_DATABASE_URL. Extra arguments go to `hazard serve` (e.g. --port 8080).
set -eu
. "$(dirname "$0")/bootstrap.sh"
uv run hazard db upgrade
exec uv run hazard serve "$@"
