"""Web UI fixtures: logged-in browsers (TestClient with its own cookie jar) per user.

`login(client, username)` goes through the real login form (CSRF cookie and field, argon2);
`browser("supervisor")` gives a fresh logged-in client; `csrf_of(html)` reads a page's form token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct-horse-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, *, next: str = "/"):
    """Log `client` in through the form; returns the POST's response (303 on success)."""
    page = client.get("/login")  # `next` travels in the form (a control character in a URL is a 422)
    assert page.status_code == 200, page.text
    return client.post("/login", data={"username": username, "password": password, "next": next,
                                       "csrf_token": csrf_of(page.text)}, follow_redirects=False)


@pytest.fixture
def browser(app) -> Iterator[Callable[[str], TestClient]]:
    """`browser(username)`: a new client logged in as that user (its own cookies)."""
    clients: list[TestClient] = []

    def make(username: str | None = None) -> TestClient:
        c = TestClient(app, raise_server_exceptions=True, follow_redirects=False)
        c.__enter__()
        clients.append(c)
        if username is not None:
            response = login(c, username)
            assert response.status_code == 303, response.text
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)
