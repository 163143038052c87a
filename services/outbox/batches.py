"""Cutting pending outbox rows into the batches a flow's task run works on: the run is named after
its hazards and relates to them through events (flows/context.py `relate_hazards`); a caller may
still cap the hazards of a batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Batch:
    ids: list[int]  # outbox rows, oldest first
    codes: list[str]  # the codes of their hazards, each once, in the order first met


def up_to_hazards(rows: Iterable[tuple[int, str | None]], hazards: int | None) -> Batch:
    """The leading rows (id, hazard code; None for a row about no hazard, such as an alert, which
    always comes along) that are about at most `hazards` hazards (None: all of them)."""
    ids: list[int] = []
    codes: dict[str, None] = {}
    for row_id, code in rows:
        if code is not None and code not in codes:
            if hazards is not None and len(codes) == hazards:
                break
            codes[code] = None
        ids.append(row_id)
    return Batch(ids, list(codes))
