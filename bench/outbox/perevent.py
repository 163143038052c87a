"""Variant (p): one flow run per event. Stages one outbox row (the oldest pending one, the event
this run is for) with the `outbox` flow's own `stage` task, then delivers with its
`deliver` task in small batches until nothing is left."""

from __future__ import annotations

from prefect import flow

from flows.outbox import deliver, next_stage, stage
from services.kernel.clock import utcnow

BATCH = 8  # more than one event's deliveries (a few inbox items and a webhook)


@flow(name="outbox-one-event", log_prints=False)
def one_event(code: str) -> dict[str, int]:
    ids, codes = next_stage(utcnow(), rows=1)
    staged = stage(ids, codes)
    totals = {**staged, "claimed": 0, "sent": 0, "failed": 0, "dead": 0}
    while True:
        sent = deliver(batch_size=BATCH)
        for k, v in sent.items():
            totals[k] += v
        if sent["claimed"] == 0:
            return totals
