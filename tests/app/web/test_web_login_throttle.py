"""The login throttle binds the client that failed, and every attempt costs one password hash.

Failures count per (username, client) and per client across usernames: an attacker elsewhere
cannot lock a person out, and one client spraying usernames stops at its own limit. Known and
unknown usernames each take exactly one argon2 verification (the timing itself is measured by
bench/login, not asserted here)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.accounts import auth
from app.web import login_throttle
from tests.app.web.conftest import PASSWORD, login


@pytest.fixture
def from_address(app):
    """`from_address("10.0.0.7")`: a browser whose TCP peer is that address."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        c = TestClient(app, follow_redirects=False, client=(address, 40000))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_a_lock_from_one_client_does_not_lock_the_person_out(from_address):
    attacker, owner = from_address("203.0.113.9"), from_address("198.51.100.4")
    for _ in range(5):
        login(attacker, "supervisor", "guess-123")
    assert login(attacker, "supervisor").status_code == 429  # even the right password, from there
    assert login(owner, "supervisor").status_code == 303  # the supervisor, from their own desk


def test_one_client_spraying_usernames_is_stopped(from_address, clock):
    sprayer, other = from_address("203.0.113.10"), from_address("198.51.100.5")
    statuses = [login(sprayer, f"user-{i}", "guess-123").status_code for i in range(login_throttle.CLIENT_MAX_FAILURES)]
    assert statuses[:-1] == [400] * (login_throttle.CLIENT_MAX_FAILURES - 1)
    assert statuses[-1] == 429  # the limit across usernames is reached on this attempt
    blocked = login(sprayer, "inspector")  # a real account with its right password: still refused
    assert blocked.status_code == 429 and "分钟后再试" in blocked.text
    assert login(other, "inspector").status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert login(sprayer, "inspector").status_code == 303


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(app, from_address):
    """Without HAZARD_TRUSTED_PROXIES a client cannot pose as a new address per attempt."""
    c = from_address("203.0.113.11")
    for i in range(5):
        c.headers["X-Forwarded-For"] = f"192.0.2.{i}"
        login(c, "supervisor", "guess-123")
    c.headers["X-Forwarded-For"] = "192.0.2.99"
    assert login(c, "supervisor").status_code == 429


def test_a_trusted_proxy_passes_the_client_on(app, from_address):
    app.state.ctx.settings.trusted_proxies = ["10.0.0.0/8"]
    proxy = from_address("10.1.2.3")
    proxy.headers["X-Forwarded-For"] = "203.0.113.12"
    for _ in range(5):
        login(proxy, "supervisor", "guess-123")
    assert login(proxy, "supervisor").status_code == 429
    proxy.headers["X-Forwarded-For"] = "198.51.100.6"  # another person behind the same proxy
    assert login(proxy, "supervisor").status_code == 303


class CountingHasher:
    """argon2 with cheap parameters, counting every hash and verification."""

    def __init__(self, inner) -> None:
        self.inner, self.hashes, self.verifies = inner, 0, 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self.inner.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        self.verifies += 1
        return self.inner.verify(stored, password)


@pytest.mark.parametrize("username,password", [
    ("supervisor", "wrong-password-9"),  # known user, wrong password
    ("no-such-user", "wrong-password-9"),  # unknown user: checked against a stand-in hash
    ("supervisor", PASSWORD),  # success
])
def test_every_attempt_costs_one_verification(settings, clock, world, monkeypatch, username, password):
    from app.api.app import create_app

    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    application = create_app(settings, clock=clock)  # prepares the stand-in hash for this hasher
    try:
        with TestClient(application, follow_redirects=False) as c:
            counting.hashes = counting.verifies = 0
            login(c, username, password)
            assert (counting.hashes, counting.verifies) == (0, 1)
    finally:
        application.state.engine.dispose()


def test_control_characters_in_the_login_form_are_refused(client):
    response = login(client, "super\x00visor", "x")
    assert response.status_code == 422
    assert "控制字符" in response.text
