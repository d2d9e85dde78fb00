"""The catalog test: every playbook and runbook loads, every reference resolves, every ATLAS id is real,
and destructive steps are gated. Fails with a readable table of every problem at once."""

from importlib import resources

import pytest
import yaml

from irflow import actions, runbook, taxonomy
from irflow import playbook as playbooks
from irflow.models import Category
from tests.conftest import shared_path


def test_catalog() -> None:
    problems: list[str] = []
    known_atlas = taxonomy.atlas_techniques()
    for name, pb in playbooks.load_all().items():
        for step in pb.steps:
            try:
                spec = actions.get(step.action)
            except actions.UnknownAction as exc:
                problems.append(f"{name:<20} step {step.id}: {exc}")
                continue
            if spec.needs_approval_by_policy and not (step.requires_approval or spec.needs_approval_by_policy):
                problems.append(f"{name:<20} step {step.id}: destructive but not gated")
        problems += [f"{name:<20} tag {a}: unknown ATLAS id" for a in pb.atlas_ids if a not in known_atlas]
        try:
            book = runbook.load(pb.runbook)
        except runbook.RunbookError as exc:
            problems.append(f"{name:<20} {exc}")
            continue
        if book.playbook != name:
            problems.append(f"{name:<20} runbook {pb.runbook}: front matter names playbook {book.playbook!r}")
        if not book.steps:
            problems.append(f"{name:<20} runbook {pb.runbook}: no checklist steps")
        problems += [f"{name:<20} runbook atlas {a}: unknown ATLAS id" for a in book.atlas if a not in known_atlas]
    assert not problems, "catalog problems:\n" + "\n".join(problems)


def test_no_notify_only_playbooks() -> None:
    for name, pb in playbooks.load_all().items():
        assert any(actions.get(s.action).capability != "notify" for s in pb.steps), name


def test_taxonomy_covers_every_category_and_ids_are_known() -> None:
    table = taxonomy.categories()
    assert set(table) == set(Category)
    known = taxonomy.atlas_techniques()
    assert [a for row in table.values() for a in row.atlas if a not in known] == []


def test_derived_atlas_table_matches_mitre_atlas() -> None:
    atlas = yaml.safe_load(shared_path("specs", "atlas", "ATLAS.yaml").read_text())
    matrix = atlas["matrices"][0]
    assert taxonomy.atlas_techniques() == {t["id"]: t["name"] for t in matrix["techniques"]}


def test_destructive_actions_always_need_approval() -> None:
    assert actions.get("keys.delete").needs_approval_by_policy
    assert not actions.get("keys.block").needs_approval_by_policy
    for spec in actions.CATALOG.values():
        if spec.inverse is not None:
            inverse = actions.get(spec.inverse)
            assert inverse.capability == spec.capability and inverse.reversible, spec.name


def test_bad_playbook_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "broken.yaml").write_text("id: not-a-uuid\ntitle: x\n")
    with pytest.raises(playbooks.PlaybookError, match=r"broken: id: Input should be a valid UUID"):
        playbooks.load_all(tmp_path)


def test_user_folder_overrides_builtin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = resources.files("irflow.playbooks").joinpath("jailbreak.yaml").read_text("utf-8")
    (tmp_path / "jailbreak.yaml").write_text(text.replace("min_severity: low", "min_severity: critical"))
    loaded = playbooks.load_all(tmp_path)
    assert loaded["jailbreak"].trigger.min_severity == "critical"
    assert loaded["prompt_injection"].trigger.min_severity == "low"


def test_template_rendering() -> None:
    ctx = {"incident": {"actor": {"user": "eve", "api_key": None}}}
    assert playbooks.render("{{ incident.actor.user }}", ctx) == "eve"
    assert playbooks.render("{{incident.actor.api_key}}", ctx) == ""
    assert playbooks.render("{{ alert.nope.deeper }}", ctx) == ""


def test_runbook_parse_errors_are_specific() -> None:
    good = "---\nid: r\nplaybook: p\nseverity: high\natlas: []\n---\n" + "".join(
        f"## {s}\n- [ ] `{s.lower()}-1` do it\n" for s in runbook.SECTIONS
    )
    book = runbook.parse(good, "p.md")
    assert [s.id for s in book.steps] == [f"{s.lower()}-1" for s in runbook.SECTIONS]
    with pytest.raises(runbook.RunbookError, match="missing section"):
        runbook.parse(good.replace("## Escalate", "## Later"), "p.md")
    with pytest.raises(runbook.RunbookError, match="without a stable id"):
        runbook.parse(good.replace("`triage-1` ", ""), "p.md")
    with pytest.raises(runbook.RunbookError, match="repeat"):
        runbook.parse(good.replace("contain-1", "triage-1"), "p.md")


def test_runbook_override_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = resources.files("irflow.runbooks").joinpath("jailbreak.md").read_text("utf-8")
    (tmp_path / "jailbreak.md").write_text(text.replace("rb-jailbreak", "rb-ours"))
    assert runbook.load("jailbreak.md", tmp_path).id == "rb-ours"
    assert runbook.load("prompt_injection.md", tmp_path).id == "rb-prompt-injection"
