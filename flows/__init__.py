"""Prefect flows: what happens after a commit and over time (DESIGN 3).

Flows take ids, dates and small values, never sessions or ORM objects; each opens its own
transactions through `db.engine`, re-checks state, and is idempotent, so a retry is safe. The
schedules live in `flows/deployments.py` (served by `hazard serve`) and, for a worker pool, in
`deploy/prefect.yaml`; a test keeps the two in step.
"""
