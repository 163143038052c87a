"""Engine creation and the unit of work: the only place in the project that commits.

A request or a CLI command opens one `transaction` (HTTP routes through the `Db` dependency in
app/api/deps.py) and hands its `Session` to the services. A job that works in batches (the sweep,
outbox delivery, document issuing, imports, an upload that must undo its file) is handed a
`UnitOfWork` instead and asks it for one transaction per batch; it never commits itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 40, echo: bool = False) -> Engine:
    """Build an engine; SQLite files get WAL and a busy timeout so readers never block writers."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Let SQLAlchemy's BEGIN go through so writes take the lock at BEGIN IMMEDIATE time.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # Writers take the write lock up front (no deadlock-prone lock upgrade later);
            # read-only sessions take a plain snapshot and never wait for writers (WAL).
            readonly = conn.get_execution_options().get("readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_READ_BINDS: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def _read_bind(engine: Engine) -> Engine:
    """The engine with `readonly` set on every connection it hands out (one per engine, cached)."""
    bind = _READ_BINDS.get(engine)
    if bind is None:
        bind = _READ_BINDS[engine] = engine.execution_options(readonly=True)
    return bind


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads; it is rolled back, never committed. It connects when first used
    (entering costs no I/O), and its connection carries `readonly` (SQLite: a plain BEGIN)."""
    engine = factory.kw.get("bind")
    session = factory(bind=_read_bind(engine)) if isinstance(engine, Engine) else factory()
    if not isinstance(engine, Engine):
        session.connection(execution_options={"readonly": True})
    try:
        yield session
    finally:
        session.rollback()
        session.close()


class UnitOfWork:
    """Opens units of work on one session factory: `with uow.write() as session` commits when the
    block ends normally and rolls back otherwise; `with uow.read() as session` never writes.
    (Named methods, not a call: a bare session factory passed by mistake fails at once instead
    of handing out sessions that never commit.)"""

    __slots__ = ("factory",)

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def write(self) -> AbstractContextManager[Session]:
        return transaction(self.factory)

    def read(self) -> AbstractContextManager[Session]:
        return read_only(self.factory)
