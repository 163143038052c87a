"""The lifecycle mirror (issue 15): every hazard and every unit's part of a task list shown in
Prefect as one flow run of the `hazard-lifecycle` flow, written after commit from the mirror's own
queue. The database stays the record; this package decides what the view must show (`render`),
reads it (`snapshots`) and keeps the bookkeeping (`stream`). Writing to Prefect is `flows/mirror.py`'s."""
