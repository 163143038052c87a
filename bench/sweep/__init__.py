"""The escalation sweep benchmark (issue 3, item 9): `uv run python -m bench.sweep --n 1000000
--due 100000`, on PostgreSQL; figures and how to read them in bench/RESULTS.md.

- (s) `services.escalation.sweep.sweep` over N open hazards of which `--due` have a ladder step due on the
  benchmark day, and again at smaller N (`--scales`, the same share due) to show its memory does
  not grow with N.
- (o) the per-row ORM loop (`orm.py`) on `--orm-subset` hazards, beside (s) on the very same
  hazards; both must write the same rows.

Every measurement starts from a fresh load (`world.py`: COPY of generated rows, VACUUM ANALYZE,
CHECKPOINT) and runs in a process of its own (`variant.py`), which reports wall and CPU time and
its peak resident set; a second pass under tracemalloc, on a fresh load, gives the Python heap's
peak. After each pass `verify.py` checks the database against what the generator says is due
(`population.py`).
"""
