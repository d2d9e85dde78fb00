"""Suite-wide rules: no ambient credentials, an isolated IRFLOW_HOME per test, and under CI=true a
skipped test fails the run (skips are for users' machines that lack a service, not for CI)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

_AMBIENT = re.compile(
    r"^(AWS_|MLFLOW_|SLACK_|JIRA_|LITELLM_|OPENAI_|ANTHROPIC_|OKTA_|AZURE_|LANGFUSE_|GOOGLE_|IRFLOW_|PREFECT_API_)"
)

# Cleared at import, before any test or fixture reads the environment, so nothing can reach a real account.
for _name in [n for n in os.environ if _AMBIENT.match(n)]:
    del os.environ[_name]
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def shared_path(*parts: str) -> Path:
    """A file under ../shared; skips the test with a clear reason where ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared specs are only present in the project's CI, not in a user's clone")
    return path


@pytest.fixture
def irflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("IRFLOW_HOME", str(home))
    return home


@pytest.fixture
def db(tmp_path: Path) -> Iterator[object]:
    from irflow.store.engine import Database

    database = Database(f"sqlite:///{tmp_path / 'irflow.db'}")
    database.upgrade()
    yield database
    database.dispose()


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() == "true" and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("CI", "").lower() == "true" and _skipped:
        terminalreporter.section("skipped under CI=true (counted as failures)")
        for line in _skipped:
            terminalreporter.write_line(line)
