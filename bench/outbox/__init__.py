"""bench/outbox: the outbox delivery engine's throughput, batched against one flow run per event,
and the lifecycle mirror's throughput and lag (`bench/outbox/mirror.py`, variant (m)).

`uv run python -m bench.outbox --events 5000 --per-event 30` on PostgreSQL (a fresh database,
dropped at the end), with a local Prefect server and a webhook receiver started by the benchmark:

- the world: the Shanxi regions, one enterprise with a few enterprise users, an inspector and a
  committee user (`services.accounts.admin`); N hazards reported and registered through
  `services.engine.transitions` (`register` writes a `notify.enterprise` outbox row: the event). The
  other rows the two actions write (`stage.reported`, `document.*`) are set aside before timing.
  One webhook subscription (`notify.*`) points at the receiver, so each event becomes one inbox
  delivery per enterprise user and one webhook POST.
- (f) batched: the `outbox` flow (`flows.outbox.outbox_delivery`: stage in batches of at most 200
  rows and 80 hazards, each a task run tagged with its hazards, then deliver in batches of 200
  until none is left), one real flow run against the local Prefect
  server for all N events; and the same loop in-process without Prefect (`f0`), for reference.
- (p) one flow run per event: a small flow (`bench.outbox.perevent`) that stages one row
  (the oldest pending one) and delivers its deliveries, run once per event for a subset.

Each variant starts from emptied hazard tables and freshly made events. After each, every delivery
must be `sent`, the receiver must have taken every webhook delivery exactly once with a valid
signature, and the inbox must hold one item per inbox delivery.
"""
