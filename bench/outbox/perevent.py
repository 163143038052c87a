"""Variant (p): one flow run per event. Stages one outbox row (`limit=1`: the oldest pending one,
the event this run is for) with the `outbox` flow's own `stage` task, then delivers with its
`deliver` task in small batches until nothing is left."""

from __future__ import annotations

from prefect import flow, tags

from flows.context import hazard_tags
from flows.outbox import deliver, stage

BATCH = 8  # more than one event's deliveries (a few inbox items and a webhook)


@flow(name="outbox-one-event", log_prints=False)
def one_event(code: str) -> dict[str, int]:
    with tags(*hazard_tags([code])):
        staged = stage([code], limit=1)
    totals = {**staged, "claimed": 0, "sent": 0, "failed": 0, "dead": 0}
    while True:
        sent = deliver(batch_size=BATCH)
        for k, v in sent.items():
            totals[k] += v
        if sent["claimed"] == 0:
            return totals
