"""Module-level app for process managers (`uvicorn services.api.asgi:app --workers N`)."""

from services.api.app import create_app

app = create_app()
