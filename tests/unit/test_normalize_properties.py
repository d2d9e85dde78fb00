"""Properties of every normalizer: hostile or broken input is refused by name, never by crashing.

Arbitrary JSON and mutated fixtures (keys dropped, values replaced) go to every normalizer through
`normalize_item(x, "$[0]", source=name)`. The only exceptions allowed out are NormalizationError whose
path starts at `$[0]` and Ignored; an alert that comes out must export to OCSF and come back. A test
also reads the package's source so no broad `except` can turn a bug into "invalid input".
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irflow.normalize
from irflow.models import Alert
from irflow.normalize import NORMALIZERS, Ignored, NormalizationError, normalize_item
from irflow.normalize.ocsf_export import to_ocsf

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"
SOURCES = sorted(NORMALIZERS)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bodies(source: str) -> list[Any]:
    folder = EXAMPLES if source == "irflow" else FIXTURES / source
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _keys(child)


# Keys the vendors use, so random objects reach past the first validation more often than random text would.
VENDOR_KEYS = sorted({k for s in SOURCES for body in _bodies(s) for k in _keys(body)} | {"payload", "context", "source"})
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
           | st.sampled_from(["MATCH_FOUND", "GUARDRAIL_INTERVENED", "guardrail_intervened", "BLOCKED", "HIGH",
                              "failure", "block", "default_user_id", "", "AML.T0051.000", "AML.T9999", "pre_call"]))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(VENDOR_KEYS) | st.text(max_size=8), inner, max_size=6),
    max_leaves=25,
)


def check(item: Any, source: str | None) -> None:
    """The contract of normalize_item, for any input."""
    try:
        alert = normalize_item(item, "$[0]", source=source)
    except NormalizationError as exc:
        assert exc.path.startswith("$[0]") and isinstance(exc.message, str) and exc.message
        return
    except Ignored as exc:
        assert exc.reason.startswith("telemetry: ")
        return
    assert isinstance(alert, Alert) and alert.title and alert.dedup_key and alert.group_key
    assert 0.0 <= alert.confidence <= 1.0
    alert.model_dump_json()
    back = normalize_item(to_ocsf(alert), "$[0]", source="ocsf")
    assert (back.category, back.severity, back.atlas) == (alert.category, alert.severity, alert.atlas)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every key / index below `value`."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from _containers(child, (*path, key))


def _mutate(data: st.DataObject, body: Any) -> Any:
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        paths = list(_containers(body))
        if not paths:
            return data.draw(JSON, label="root")
        path = data.draw(st.sampled_from(paths), label="path")
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans(), label="drop"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON, label="value")
    return body


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(item=JSON)
def test_arbitrary_json_is_refused_by_name(source: str, item: Any) -> None:
    check(item, source)


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_mutated_fixtures_are_refused_by_name(source: str, data: st.DataObject) -> None:
    body = data.draw(st.sampled_from(_bodies(source)), label="fixture")
    mutated = _mutate(data, body)
    check(mutated, source)
    check({"source": source, "context": {"user": "eve"}, "payload": mutated}, None)


@PROPERTY
@given(item=JSON)
def test_auto_detection_never_crashes(item: Any) -> None:
    check(item, None)


BROAD = {"Exception", "BaseException"}


def _broad_handlers(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ExceptHandler):
            continue
        names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        if node.type is None or any(isinstance(n, ast.Name) and n.id in BROAD for n in names):
            lines.append(node.lineno)
    return lines


def test_no_broad_excepts_in_the_normalizers() -> None:
    package = Path(irflow.normalize.__file__).parent
    found = {p.name: _broad_handlers(ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(package.glob("*.py"))}
    assert len(found) >= 12
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_except_check_catches_what_it_should() -> None:
    code = "try:\n    x()\nexcept:\n    pass\ntry:\n    y()\nexcept (ValueError, Exception):\n    pass\n"
    assert _broad_handlers(ast.parse(code)) == [3, 7]
