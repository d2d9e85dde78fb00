"""Checks beyond the schema: every action and runbook resolves, ATLAS ids are real, destructive steps are
gated, templates name real roots, and no playbook only notifies. Used by `irflow playbooks validate`
and the catalog test."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from irflow import actions, runbook, taxonomy
from irflow.playbook import Playbook

_ROOTS = re.compile(r"\{\{\s*([a-z_]+)\.")


def check(books: Iterable[Playbook], runbooks_dir: Path | None = None) -> list[str]:
    problems: list[str] = []
    for book in books:
        problems += [f"{book.name}: {p}" for p in _check_one(book, runbooks_dir)]
    return problems


def _check_one(book: Playbook, runbooks_dir: Path | None) -> list[str]:
    problems: list[str] = []
    ids = [s.id for s in book.steps]
    if len(ids) != len(set(ids)):
        problems.append(f"step ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    for step in book.steps:
        problems += [f"step {step.id}: {p}" for p in _check_step(step)]
    if all(actions.CATALOG.get(s.action) is None or actions.CATALOG[s.action].capability == "notify" for s in book.steps):
        problems.append("has no containment or manual.task step")
    known = taxonomy.atlas_techniques()
    problems += [f"tag {a}: not a MITRE ATLAS technique id" for a in book.atlas_ids if a not in known]
    try:
        book_runbook = runbook.load(book.runbook, runbooks_dir)
    except runbook.RunbookError as exc:
        return [*problems, str(exc)]
    if book_runbook.playbook != book.name:
        problems.append(f"runbook {book.runbook} names playbook {book_runbook.playbook!r}")
    problems += [f"runbook atlas {a}: not a MITRE ATLAS technique id" for a in book_runbook.atlas if a not in known]
    return problems


def _check_step(step: object) -> list[str]:
    from irflow.playbook import Step

    assert isinstance(step, Step)
    try:
        spec = actions.get(step.action)
    except actions.UnknownAction as exc:
        return [str(exc.args[0])]
    problems = []
    if spec.capability not in ("manual", "flow") and spec.target_arg not in step.args:
        problems.append(f"{step.action} needs the argument {spec.target_arg!r}")
    if not spec.reversible and not (spec.needs_approval_by_policy or step.requires_approval):
        problems.append(f"{step.action} is irreversible but not approval-gated")
    for value in [*step.args.values(), step.when or "", step.unless or ""]:
        problems += [f"template root {root!r} (use alert. or incident.)" for root in _ROOTS.findall(value)
                     if root not in ("alert", "incident")]
    if step.ttl is not None and spec.inverse is None:
        problems.append(f"ttl on {step.action}, which has no inverse to run when it expires")
    return problems
