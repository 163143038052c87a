"""What every way of providing a server shares: the names of the ways and their settings, the
result (`Provisioned`) and the errors, and connecting to a server URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.engine import URL, make_url

ENV_VAR = "HAZARD_TEST_DATABASE_URL"
#: Image for the testcontainers path; overridable so CI can pin the production major version.
IMAGE_ENV_VAR = "HAZARD_TEST_PG_IMAGE"
DEFAULT_IMAGE = "postgres:16-alpine"

ENV = "env"
TESTCONTAINERS = "testcontainers"
LOCAL_SERVER = "local-server"
THROWAWAY_CLUSTER = "throwaway-cluster"
DEFAULT_ORDER: tuple[str, ...] = (ENV, TESTCONTAINERS, LOCAL_SERVER, THROWAWAY_CLUSTER)

CONNECT_TIMEOUT = 3  # seconds; a server that takes longer than this to accept is not "answering"
DOCKER_TIMEOUT = 5  # seconds for `docker info`; a wedged daemon must not hang the test session

DEFAULT_LOCAL_HOST = "127.0.0.1"
DEFAULT_LOCAL_PORT = 5432
LOCAL_USERS = ("postgres", "root")
LOCAL_DATABASES = ("postgres", "test")

DEFAULT_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class ProvisionError(RuntimeError):
    """No PostgreSQL server could be provided; the message lists every attempt and its reason.

    ``attempts`` keeps the same information as ``(how, reason)`` pairs for programmatic checks.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


class StepFailed(Exception):
    """A provisioning way did not work; the message is the one-line reason shown to the user."""


@dataclass
class Provisioned:
    """A usable server: ``url`` is a ``postgresql+psycopg://`` URL to a server-level database.

    ``how`` says which way produced it. ``stop()`` releases whatever *this module* started (a
    container or a throwaway cluster); for servers it merely found, it does nothing. It is
    idempotent and also registered with :mod:`atexit`, so a crashed session does not leave a
    cluster running behind it.
    """

    url: str
    how: str
    #: The temporary directory holding a throwaway cluster (None for the other ways).
    workdir: str | None = None
    _release: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


# --------------------------------------------------------------------------------------------
# URL helpers
# --------------------------------------------------------------------------------------------


def normalise_url(raw: str) -> str:
    """Return ``raw`` as a ``postgresql+psycopg://`` URL (psycopg 3 is the only driver we ship).

    Accepts ``postgresql://``, ``postgres://`` (the libpq/Heroku spelling) and other PostgreSQL
    driver suffixes; anything that is not PostgreSQL is rejected with ValueError.
    """
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _conninfo(url: str | URL) -> str:
    """libpq understands ``postgresql://`` URIs but not SQLAlchemy's ``+driver`` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def shown(url: str | URL) -> str:
    """URL for messages and logs, with any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def connect(url: str | URL) -> psycopg.Connection:
    return psycopg.connect(_conninfo(url), connect_timeout=CONNECT_TIMEOUT, autocommit=True)


def one_line(exc: BaseException) -> str:
    """Errors from libpq span several lines; a list of attempts reads better with one each."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_answers(url: str) -> None:
    """Raise StepFailed unless ``select 1`` works on ``url``."""
    try:
        with connect(url) as conn:
            conn.execute("select 1").fetchone()
    except psycopg.Error as exc:
        raise StepFailed(f"{shown(url)} did not answer: {one_line(exc)}") from exc
