"""`python -m bench.transitions`: the full lifecycle of N hazards, four ways, side by side.

(a) the service in-process (`creation.report`, `transitions.perform` in `db.engine.transaction`),
(b) the HTTP API under wrk, (c) the same SQL statements sent raw with psycopg, and
(d) the same lifecycle as a SpiffWorkflow BPMN process whose state is stored in PostgreSQL after
every step. Every variant runs the major-hazard loop (report, register, supervise, file_plan,
request_acceptance, accept, close: 7 transitions per hazard) in the same order, one phase per
action over all N hazards (the order HTTP must use), starting from the same empty tables.

What must hold for the figures to mean anything: each counted transition really happened (every
variant is verified afterwards: states, versions, event and outbox counts, `audit.verify`), and
(c) writes the same rows as (a) (checked by comparing normalised table contents at concurrency 1).
"""
