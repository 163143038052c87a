"""Module-level app for process managers (`uvicorn app.api.asgi:app --workers N`)."""

from app.api.app import create_app

app = create_app()
