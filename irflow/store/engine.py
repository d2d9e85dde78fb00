"""Engine and sessions for the one database that holds all irflow state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

SQLITE_SYNCHRONOUS = "FULL"
"""WAL + synchronous=FULL: a commit is on disk (fsync'd WAL) before intake answers 202, so an accepted
alert survives kill -9 and power loss alike. NORMAL would survive kill -9 but not power loss.

Kept at FULL on purpose: intake's group commit (irflow.intake_writer.IntakeWriter) pays one fsync per group of
concurrently arriving submissions, not one per request, so FULL meets the intake bars (bench/README.md:
>1,000 single-alert POSTs/s, >10,000 alerts/s in batches on 2 cores) and there is nothing to trade the
power-loss guarantee for. On this machine's disk an fsync is ~0.3 ms; CPU, not the disk, is the limit."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # let the "begin" hook issue BEGIN IMMEDIATE itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    # Take SQLite's write lock at BEGIN: a deferred transaction that reads then writes can fail with
    # SQLITE_BUSY_SNAPSHOT instead of waiting, which would turn contention into lost work.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # hide_parameters: a failed statement's message (logged, shown) must not carry the values bound to it,
    # which may be attacker-controlled alert text or secrets.
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "irflow:migrations")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent: a current database is left alone)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


class Database:
    """Owns the engine and hands out transactions. One per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error, so nothing is half-stored."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
