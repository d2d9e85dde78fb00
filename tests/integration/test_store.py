"""The store on SQLite and on the machine's PostgreSQL: migrations match the models, intake is atomic,
and incidents group alerts the same way on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from irflow import audit, intake
from irflow.bodies import split
from irflow.settings import IrflowSettings
from irflow.store.engine import Database, alembic_config, current_revision
from irflow.store.tables import AlertRow, Base, IncidentRow, RejectedRow

pytestmark = pytest.mark.integration

ALERT = b'{"title": "t", "category": "prompt_injection", "severity": "high", "actor": {"user": "eve"}}'


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def test_migrations_match_models_exactly(store: Database) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
    assert current_revision(store.engine) == head
    store.upgrade()  # idempotent


def _settings(tmp_path) -> IrflowSettings:  # type: ignore[no-untyped-def]
    return IrflowSettings(home=tmp_path)


def test_batch_accepts_good_items_reports_bad_ones_and_dead_letters(store: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    body = b"\n".join([ALERT, b'{"title": "t", "category": "bogus", "severity": "high", "actor": {}}', ALERT.replace(b'"eve"', b'"bob"')])
    report = intake.ingest(store, _settings(tmp_path), split(body, max_bytes=1 << 20))
    assert [r.error is None for r in report.results] == [True, False, True]
    assert "$[1].category" in (report.results[1].error or "")
    with store.tx() as s:
        assert s.execute(select(func.count()).select_from(AlertRow)).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(IncidentRow)).scalar_one() == 2
        rejected = s.execute(select(RejectedRow)).scalars().all()
        assert len(rejected) == 1 and "bogus" in rejected[0].body
        assert audit.verify(s).ok


def test_same_actor_groups_and_repeats_count(store: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    first = intake.ingest(store, settings, split(ALERT.replace(b'"t"', b'"one"'), max_bytes=1 << 20))
    second = intake.ingest(store, settings, split(ALERT.replace(b'"t"', b'"two"'), max_bytes=1 << 20))
    assert first.results[0].new_incident and not second.results[0].new_incident
    assert first.results[0].incident_id == second.results[0].incident_id
    with store.tx() as s:
        assert s.get(IncidentRow, first.results[0].incident_id).alert_count == 2  # type: ignore[union-attr]


def test_same_delivery_twice_is_stored_once(store: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    with_id = ALERT.replace(b'{"title"', b'{"id": "v-1", "title"')
    a = intake.ingest(store, settings, split(with_id, max_bytes=1 << 20)).results[0]
    b = intake.ingest(store, settings, split(with_id, max_bytes=1 << 20)).results[0]
    assert not a.duplicate and b.duplicate and a.alert and b.alert and a.alert.id == b.alert.id
    with store.tx() as s:
        assert s.execute(select(func.count()).select_from(AlertRow)).scalar_one() == 1


def test_failed_transaction_stores_nothing(store: Database, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(audit, "append", boom)
    with pytest.raises(RuntimeError):
        intake.ingest(store, _settings(tmp_path), split(ALERT, max_bytes=1 << 20))
    with store.tx() as s:
        assert s.execute(select(func.count()).select_from(AlertRow)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(IncidentRow)).scalar_one() == 0
