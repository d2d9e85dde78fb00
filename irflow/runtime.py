"""The process's wiring: settings, database, connectors and playbooks, built once and shared.

Flows look it up here (Prefect parameters carry ids only); the CLI and the HTTP app build it at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from irflow import playbook as playbook_files
from irflow.playbook import Playbook
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.systems import Systems, build


def configure_prefect(settings: IrflowSettings) -> None:
    """Keep Prefect's state under IRFLOW_HOME (two homes never share data) and offline. Call before
    importing prefect: its settings are read at import time."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "true")
    settings.prefect_home.mkdir(parents=True, exist_ok=True)


@dataclass
class Runtime:
    settings: IrflowSettings
    db: Database

    @cached_property
    def systems(self) -> Systems:
        return build(self.db)

    @cached_property
    def playbooks(self) -> dict[str, Playbook]:
        return playbook_files.load_all(self.settings.playbooks)


_current: Runtime | None = None


def create(settings: IrflowSettings | None = None, *, upgrade: bool = True) -> Runtime:
    settings = settings or IrflowSettings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    if upgrade:
        db.upgrade()
    return use(Runtime(settings, db))


def use(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def get() -> Runtime:
    return _current if _current is not None else create()
