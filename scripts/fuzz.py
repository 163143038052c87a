"""A schemathesis campaign over the whole OpenAPI document, larger than CI's, run by hand:

    uv run python scripts/fuzz.py --examples 500                 # PostgreSQL at 127.0.0.1:5432
    uv run python scripts/fuzz.py --backend sqlite --examples 200 --seed 7
    uv run python scripts/fuzz.py --only 'POST /api/v1/hazards' --examples 2000

It makes a fresh database (a new PostgreSQL database on --server-url, dropped afterwards unless
--keep; or a temporary SQLite file), migrates it, loads the tests' small world (a user of every
role) and hazards in every state, documents, inbox messages, dead letters and a public report,
then runs the campaign of tests/app/api/fuzzing.py against the real app in-process, on the real clock:
up to --examples requests per operation, as an inspector, an enterprise user and nobody. It prints,
per operation, the requests tried, their statuses and the 5xx; then every finding with a curl
reproducer (and the server's traceback for a 5xx). Exit status 1 when something was found.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from services.kernel import logs
from app.api.app import create_app
from services.kernel.clock import utcnow
from services.kernel.settings import Settings
from tests import pg_provision
from tests.app.api import fuzzing
from tests.conftest import build_world

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="requests per operation (at most)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="PostgreSQL server (a database is created on it)")
    parser.add_argument("--seed", type=int, help="Hypothesis seed (default: a random one, printed)")
    parser.add_argument("--only", action="append", help="an operation, e.g. 'GET /api/v1/hazards' (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    tmp = Path(tempfile.mkdtemp(prefix="hazard-fuzz-"))
    name = f"hazard_fuzz_{uuid.uuid4().hex[:10]}"
    if args.backend == "postgresql":
        url = pg_provision.create_database(args.server_url, name)
    else:
        url = f"sqlite:///{tmp / 'hazard.db'}"
    print(f"fuzz: {args.backend} {url}  seed {seed}  up to {args.examples} requests per operation", flush=True)
    logs.configure("WARNING")  # the seeding's info lines would drown the figures
    try:
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        now = utcnow()
        world = build_world(factory, now)
        settings = Settings(database_url=url, data_dir=tmp / "var", token_cache_seconds=0.0, log_level="CRITICAL")
        rows = fuzzing.seed_rows(factory, world, settings, now)
        app = create_app(settings)
        wrapped = fuzzing.Tracebacks(app)
        schema = fuzzing.load_schema(wrapped)
        started = time.perf_counter()

        def progress(label: str, stats: fuzzing.Stats) -> None:
            codes = " ".join(f"{c}:{n}" for c, n in sorted(stats.statuses[label].items()))
            print(f"  {label:<58}{stats.sent[label]:>6} sent {stats.server_errors(label):>4} 5xx  {codes}", flush=True)

        tokens = {n: world.tokens[n] for n in fuzzing.ROLES}
        stats = fuzzing.run(wrapped, schema, tokens, rows, examples=args.examples, seed=seed, only=args.only,
                            progress=progress)
        elapsed = time.perf_counter() - started
        print(f"\n{stats.table()}\n")
        print(f"{stats.total} requests in {elapsed:.0f} s, "
              f"{sum(stats.server_errors(o) for o in stats.sent)} answered 5xx, {len(stats.findings)} distinct findings, "
              f"{len(stats.transport_errors)} requests the client would not send")
        for key, text in stats.transport_errors.items():
            print(f"  not sent: {key}: {text}")
        if stats.findings:
            print("\nfindings:\n" + stats.report())
        engine.dispose()
        app.state.engine.dispose()
        return 1 if stats.findings else 0
    finally:
        if args.backend == "postgresql" and not args.keep:
            pg_provision.drop_database(args.server_url, name)


if __name__ == "__main__":
    sys.exit(main())
