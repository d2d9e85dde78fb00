from sqlalchemy import update

from irflow import audit
from irflow.store.tables import AuditRow


def test_chain_verifies_and_detects_tampering(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as s:
        for n in range(5):
            audit.append(s, actor="tester", kind="k", subject=f"s{n}", data={"n": n})
    with db.tx() as s:
        result = audit.verify(s)
    assert result.ok and result.checked == 5
    with db.tx() as s:
        s.execute(update(AuditRow).where(AuditRow.seq == 3).values(data={"n": 99}))
    with db.tx() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_broken_seq == 3 and "content" in (result.problem or "")


def test_deleted_event_is_a_gap(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as s:
        for n in range(3):
            audit.append(s, actor="t", kind="k", subject="s")
    with db.tx() as s:
        s.query(AuditRow).filter(AuditRow.seq == 2).delete()
    with db.tx() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_broken_seq == 3


def test_audit_entry_rolls_back_with_its_change(db) -> None:  # type: ignore[no-untyped-def]
    try:
        with db.tx() as s:
            audit.append(s, actor="t", kind="k", subject="s")
            raise RuntimeError("the state change failed")
    except RuntimeError:
        pass
    with db.tx() as s:
        assert audit.count(s) == 0
