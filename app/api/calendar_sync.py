"""Keep this API process's working-day calendar in step with the arrangements an admin loads
(`hazard calendar set-year`, services/calendar/years.py): before a request, at most every
`calendar_years.REFRESH_SECONDS`, re-read the `calendar_years` table (a handful of rows) in a
worker thread. Every other request costs one clock comparison; working-day arithmetic itself never
queries."""

from __future__ import annotations

from anyio import to_thread

from db.engine import UnitOfWork
from services.calendar import years as calendar_years


class CalendarSync:
    """Pure ASGI middleware for the app's session factory."""

    def __init__(self, app, factory, sync: calendar_years.CalendarSync = calendar_years.SYNC) -> None:
        self.app = app
        self.uow = UnitOfWork(factory)
        self.sync = sync

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.sync.due(self.uow):
            await to_thread.run_sync(self.sync.refresh, self.uow)
        await self.app(scope, receive, send)
