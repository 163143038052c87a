"""`uv run python -m bench.login --rounds 40`: see the package docstring."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from db.engine import make_engine, make_session_factory, transaction
from db.migrate import upgrade
from services.accounts import admin
from services.kernel.clock import utcnow
from app.web import session as web_session


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.login", description=__doc__)
    p.add_argument("--rounds", type=int, default=40, help="attempts per kind of username")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'login.db'}"
        upgrade(url)
        factory = make_session_factory(make_engine(url))
        now = utcnow()
        with transaction(factory) as s:
            admin.load_regions_csv(s)
            admin.add_user(s, "known", "inspector", "141102", now=now, password="correct-horse-1")
        web_session.prepare_dummy_hash()
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        for i in range(args.rounds):
            for kind in (("known", "unknown") if i % 2 else ("unknown", "known")):
                # A new client per attempt and a clock far apart, so the throttle never answers first.
                at = now + timedelta(hours=i)
                start = time.perf_counter()
                try:
                    web_session.login(factory, kind if kind == "known" else f"nobody-{i}", "wrong-password",
                                      now=at, client=f"bench-{kind}-{i}")
                except web_session.LoginFailed:
                    pass
                times[kind].append(time.perf_counter() - start)
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    ratio = unknown / known
    print(f"{'username':<10}{'median ms':>12}{'p90 ms':>10}")
    for kind, values in times.items():
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        print(f"{kind:<10}{statistics.median(values) * 1000:>12.1f}{p90 * 1000:>10.1f}")
    verdict = "PASS" if abs(ratio - 1) <= 0.10 else "FAIL"
    print(f"unknown/known median ratio: {ratio:.3f} (target within 0.90–1.10: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
