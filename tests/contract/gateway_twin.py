"""The embedded gateway twin as one more target of the contract suites: a LocalGateway on a fresh sqlite store
and a view of the block rows it has written, which each suite's Rig compares before and after a call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from irflow.connectors.gateway.local import LocalGateway
from irflow.store.engine import Database
from irflow.store.tables import GatewayBlockRow


@contextmanager
def local_gateway(tmp_path: Path, *, stamped: bool = False) -> Iterator[tuple[LocalGateway, Callable[[], object]]]:
    """The twin on tmp_path/t.db and a reader of its block rows; `stamped` adds each row's updated_at."""
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    gateway = LocalGateway(db)

    def rows() -> object:
        with db.tx() as s:
            return tuple((r.kind, r.value, r.blocked, r.reason, *((r.updated_at,) if stamped else ()))
                         for r in s.scalars(select(GatewayBlockRow)))

    try:
        yield gateway, rows
    finally:
        db.dispose()
