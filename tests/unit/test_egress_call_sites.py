"""By construction, not by memory: walk the code (AST) for every call that sends text out of irflow —
Slack, Jira, Prefect artifacts, logs — and check what each passes is SafeText-typed at the call site:
a call of a function annotated `-> SafeText`, or a local variable assigned from one. A new call site
with a plain string fails here, whoever wrote it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("irflow", "connectors", "flows")

CHAT = {"post", "update", "ensure_channel", "post_ephemeral", "post_thread", "add_bookmark", "set_topic"}
TICKETS = {"create_issue", "add_comment", "update_issue"}


def _sources() -> list[tuple[Path, ast.Module]]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    return [(p, ast.parse(p.read_text("utf-8"), str(p))) for p in files]


def _safe_producers(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """Every function in the project whose return annotation is SafeText."""
    names = {"redact", "compose", "trusted", "secret_hint"}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
                if "SafeText" in ast.unparse(node.returns) and "list" not in ast.unparse(node.returns):
                    names.add(node.name)
    return names


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _receiver(call: ast.Call) -> str:
    return ast.unparse(call.func.value) if isinstance(call.func, ast.Attribute) else ""


def _egress_calls(tree: ast.Module) -> list[tuple[ast.Call, ast.FunctionDef | None, str]]:
    """(call, enclosing function, kind) for Slack/Jira/artifact calls made through irflow's systems."""
    found = []
    for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        for node in ast.walk(func):
            if not isinstance(node, ast.Call):
                continue
            name, receiver = _callee(node), _receiver(node)
            if name in CHAT and receiver.endswith("chat"):
                found.append((node, func, "slack"))
            elif name in TICKETS and receiver.endswith("tickets"):
                found.append((node, func, "jira"))
            elif name == "create_markdown_artifact":
                found.append((node, func, "artifact"))
    return found


def _assigned_from(func: ast.FunctionDef, var: str) -> list[ast.expr]:
    values = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == var:
                    values.append(node.value)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == var:
            if node.value is not None:
                values.append(node.value)
    return values


def _is_safe(expr: ast.expr, func: ast.FunctionDef | None, producers: set[str], depth: int = 0) -> bool:
    if isinstance(expr, ast.Call):
        return _callee(expr) in producers or (_callee(expr) == "str" and bool(expr.args)
                                              and _is_safe(expr.args[0], func, producers, depth + 1))
    if isinstance(expr, ast.Name) and func is not None and depth < 3:
        sources = _assigned_from(func, expr.id)
        args = {a.arg: a for a in func.args.args}
        if not sources and expr.id in args and args[expr.id].annotation is not None:
            return "SafeText" in ast.unparse(args[expr.id].annotation)
        return bool(sources) and all(_is_safe(v, func, producers, depth + 1) for v in sources)
    if isinstance(expr, ast.JoinedStr):  # an f-string is only safe if every piece is
        return all(isinstance(v, ast.Constant) or _is_safe(v.value, func, producers, depth + 1)
                   for v in expr.values if not isinstance(v, ast.Constant))
    return False


TEXT_ARGS = {"slack": {"post": [1], "update": [2], "ensure_channel": [1]},
             "jira": {"create_issue": [1, 2], "add_comment": [1]}}


def test_every_egress_call_site_passes_safe_text() -> None:
    trees = _sources()
    producers = _safe_producers(trees)
    seen, problems = 0, []
    for path, tree in trees:
        if path.parent.name in ("slack", "jira") and path.parent.parent.name == "connectors":
            continue  # the connectors themselves: they enforce require_safe at their edge
        for call, func, kind in _egress_calls(tree):
            seen += 1
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            if kind == "artifact":
                markdown = next((k.value for k in call.keywords if k.arg == "markdown"), None)
                ok = markdown is not None and _artifact_safe(markdown, func, producers)
                problems += [] if ok else [f"{where}: artifact markdown is not built from SafeText"]
                continue
            for index in TEXT_ARGS[kind].get(_callee(call), []):
                if index < len(call.args) and not _is_safe(call.args[index], func, producers):
                    problems.append(f"{where}: {_callee(call)} argument {index} `{ast.unparse(call.args[index])}`")
    assert seen >= 6, f"found only {seen} egress call sites: the walker is blind"
    assert problems == [], "egress call sites passing text that is not SafeText:\n" + "\n".join(problems)


def _artifact_safe(expr: ast.expr, func: ast.FunctionDef | None, producers: set[str]) -> bool:
    if isinstance(expr, ast.JoinedStr):
        return all(_is_safe(v.value, func, producers) for v in expr.values if isinstance(v, ast.FormattedValue))
    return _is_safe(expr, func, producers)


def test_the_walker_catches_a_plain_string() -> None:
    bad = ast.parse("def f(systems, alert):\n    systems.chat.post('C1', alert['evidence'])\n")
    [(call, func, kind)] = _egress_calls(bad)
    assert kind == "slack" and not _is_safe(call.args[1], func, {"redact"})
    good = ast.parse("def f(systems, alert):\n    text = redact(alert['evidence'])\n    systems.chat.post('C1', text)\n")
    [(call, func, _)] = _egress_calls(good)
    assert _is_safe(call.args[1], func, {"redact"})


@pytest.mark.parametrize("module", ["irflow", "connectors", "flows"])
def test_no_print_of_alert_data_outside_the_cli(module: str) -> None:
    """Outside the CLI's own output code, nothing prints: logs go through the redacting formatter."""
    allowed = {"cli.py", "cli_response.py", "cli_incidents.py", "cli_jira.py", "demo.py", "server.py"}
    offenders = []
    for path in (REPO / module).rglob("*.py"):
        if path.name in allowed:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        offenders += [f"{path.relative_to(REPO)}:{n.lineno}" for n in ast.walk(tree)
                      if isinstance(n, ast.Call) and _callee(n) == "print" and not _receiver(n)]
    assert offenders == []
