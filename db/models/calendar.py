"""The working-day arrangements an admin loaded (services/calendar/years.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime


class CalendarYear(Base):
    """A year's working-day arrangement an admin loaded (`hazard calendar set-year`), from the State
    Council's notice: `holidays` every day off, `workdays` the weekend days worked (调休上班), each a
    JSON list of `YYYY-MM-DD` in that year. It replaces the override file's and the package's
    arrangement of the year. Every process reads the table (services/calendar/years.py), so the API,
    the flows and the CLI count working days alike; stored deadlines are never recomputed from it."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[str] = mapped_column(Text)
    workdays: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loaded_by: Mapped[str] = mapped_column(String(64))
