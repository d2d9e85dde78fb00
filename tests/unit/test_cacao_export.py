"""`irflow playbooks export --format cacao`: every built-in playbook validates against the OASIS CACAO v2
JSON schemas (read from ../shared, resolved offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irflow.cacao import to_cacao
from irflow.playbook import load_all
from tests.conftest import shared_path


def _validator():  # type: ignore[no-untyped-def]
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    root = shared_path("specs", "cacao", "schemas")
    resources = []
    for path in root.rglob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
    registry = Registry().with_resources(resources)
    playbook_schema = json.loads((root / "playbook.json").read_text())
    return Draft202012Validator(playbook_schema, registry=registry)


@pytest.mark.parametrize("name", sorted(load_all()))
def test_builtin_playbooks_export_as_valid_cacao(name: str) -> None:
    document = to_cacao(load_all()[name])
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []
    assert document["workflow"][document["workflow_start"]]["type"] == "start"
    assert len([s for s in document["workflow"].values() if s["type"] == "action"]) == len(load_all()[name].steps)


def test_the_validator_rejects_a_broken_export() -> None:
    document = to_cacao(load_all()["jailbreak"])
    del document["workflow_start"]
    document["spec_version"] = 2
    assert len(list(_validator().iter_errors(document))) >= 2


def test_export_is_stable() -> None:
    book = load_all()["leaked_api_key"]
    assert to_cacao(book)["workflow"].keys() == to_cacao(book)["workflow"].keys()


