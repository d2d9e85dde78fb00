"""Under CI=true a skipped test fails the run; on a user's machine it is only a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()


@pytest.mark.parametrize(("ci", "expected"), [("true", 1), ("", 0)])
def test_skips_fail_only_under_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, expected: int) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("import pytest\n\ndef test_ok():\n    pass\n\ndef test_needs_service():\n    pytest.skip('no server')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == expected
    if ci:
        result.stdout.fnmatch_lines(["*skipped under CI=true*", "*test_needs_service*no server*"])
