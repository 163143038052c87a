"""The lifecycle mirror's bookkeeping (issue 15): what is waiting to be shown in Prefect, and how far
each item has been shown there. Prefect is a view; these rows only say how far the view has got,
so losing them costs a rebuild (`hazard prefect resync`), never a fact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class MirrorQueue(Base):
    """The mirror's own outbox: one row per thing an item has to show (an event appended to its
    chain, a notification to it sent or given up), written by database triggers in the transaction
    that did it (migration 0016), so no writer can forget it and none pays a statement for it. The
    mirror collapses the rows per item, shows everything new from the item's marker and deletes the
    rows it has handled."""

    __tablename__ = "mirror_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item: Mapped[str] = mapped_column(String(40))  # hazard:<id> or assignment:<id>


class MirrorItem(Base):
    """How far one item's flow run shows its chain: the last chain `seq` and the last delivery id
    shown, the run's id, the state and tags last set. `writing` is set before a pass writes to Prefect
    and cleared with the marker after it: found set, the pass before died half-way, and the next one
    reads back what reached Prefect instead of writing it twice."""

    __tablename__ = "mirror_items"

    item: Mapped[str] = mapped_column(String(40), primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_id: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    state: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[str | None] = mapped_column(Text)
    writing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The artifact (facts and timeline) is behind the run: refreshed once the queue is empty, so a
    # burst shows its transitions first and an item acted on again and again is summarised once.
    artifact_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MirrorLease(Base):
    """One mirror writes at a time (a scheduled pass, a resync): the holder and until when. A
    lease, not a lock held across Prefect calls, so a SQLite database is never kept locked."""

    __tablename__ = "mirror_lease"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(UTCDateTime())
