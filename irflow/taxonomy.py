"""Category -> OWASP / ATLAS / default severity, read from the shipped data table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from irflow.models import Category, Severity


@dataclass(frozen=True)
class CategoryInfo:
    category: Category
    owasp: str | None
    atlas: tuple[str, ...]
    severity: Severity
    family: str


def _load_yaml(name: str) -> dict:
    text = resources.files("irflow.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def categories() -> dict[Category, CategoryInfo]:
    table = _load_yaml("taxonomy.yaml")["categories"]
    return {
        Category(name): CategoryInfo(
            category=Category(name),
            owasp=row["owasp"],
            atlas=tuple(row["atlas"]),
            severity=Severity(row["severity"]),
            family=row["family"],
        )
        for name, row in table.items()
    }


@cache
def key_shaped_categories() -> frozenset[Category]:
    return frozenset(Category(c) for c in _load_yaml("taxonomy.yaml")["key_shaped"])


@cache
def atlas_techniques() -> dict[str, str]:
    """ATLAS technique id -> name, from the derived table shipped with irflow."""
    return dict(_load_yaml("atlas_ids.yaml")["techniques"])


def info(category: Category) -> CategoryInfo:
    return categories()[category]
