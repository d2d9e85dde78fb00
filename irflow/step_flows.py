"""Python flows a playbook step can name (`action: flow.<name>`): for anything that needs loops or logic,
which the YAML deliberately cannot express.

A step flow is a Prefect flow `fn(incident_id: str, args: dict[str, str]) -> dict` registered here with its
policy metadata. Unless it declares itself reversible and low-impact, it is approval-gated like any
irreversible action. Built-ins live in irflow.flows.steps; your own are imported from the modules named in
`IRFLOW_FLOW_MODULES` (comma-separated) or the `irflow.step_flows` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any


@dataclass(frozen=True)
class StepFlow:
    name: str
    fn: Callable[[str, dict[str, Any]], dict[str, Any]]
    title: str
    description: str
    reversible: bool
    low_impact: bool


REGISTRY: dict[str, StepFlow] = {}
_loaded = False


def step_flow(name: str, *, title: str, description: str, reversible: bool = False,
              low_impact: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Prefect flow as `flow.<name>`."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = StepFlow(name, fn, title, description, reversible, low_impact)
        return fn

    return register


def load() -> dict[str, StepFlow]:
    """Built-ins, then IRFLOW_FLOW_MODULES, then installed entry points (imported once)."""
    global _loaded
    if not _loaded:
        importlib.import_module("irflow.flows.steps")
        for module in filter(None, (m.strip() for m in os.environ.get("IRFLOW_FLOW_MODULES", "").split(","))):
            importlib.import_module(module)
        for entry in entry_points(group="irflow.step_flows"):
            entry.load()
        _loaded = True
    return REGISTRY
