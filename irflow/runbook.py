"""Runbooks: `runbooks/<playbook>.md`, front matter + fixed sections + checklist steps with stable ids.

The stable ids (`- [ ] \`triage-confirm\` text`) let Slack track a step across re-renders. Built-ins ship
in the package (irflow.runbooks); a file of the same name under IRFLOW_RUNBOOKS overrides one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

SECTIONS = ("Summary", "Triage", "Contain", "Recover", "Escalate")
_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)
_STEP = re.compile(r"^- \[( |x)\] `([a-z0-9][a-z0-9-]*)` (.+)$")


class RunbookError(ValueError):
    """A runbook that does not parse; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ChecklistStep:
    id: str
    text: str
    section: str


@dataclass
class Runbook:
    name: str
    id: str
    playbook: str
    severity: str
    atlas: list[str]
    summary: str
    steps: list[ChecklistStep] = field(default_factory=list)


def parse(text: str, name: str) -> Runbook:
    match = _FRONT.match(text)
    if not match:
        raise RunbookError(f"{name}: no front matter (--- ... ---) at the top")
    front = yaml.safe_load(match.group(1)) or {}
    missing = [k for k in ("id", "playbook", "severity", "atlas") if k not in front]
    if missing:
        raise RunbookError(f"{name}: front matter lacks {', '.join(missing)}")
    sections = _sections(text[match.end():], name)
    steps = [_step(line, section, name) for section, body in sections.items() for line in body if line.startswith("- [")]
    ids = [s.id for s in steps]
    if len(ids) != len(set(ids)):
        raise RunbookError(f"{name}: checklist step ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    summary = " ".join(line for line in sections["Summary"] if line and not line.startswith("- ["))
    return Runbook(name, str(front["id"]), str(front["playbook"]), str(front["severity"]), list(front["atlas"]),
                   summary, steps)


def _sections(body: str, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line.strip())
    absent = [s for s in SECTIONS if s not in found]
    if absent:
        raise RunbookError(f"{name}: missing section(s) {', '.join(absent)}")
    return found


def _step(line: str, section: str, name: str) -> ChecklistStep:
    match = _STEP.match(line)
    if not match:
        raise RunbookError(f"{name}: checklist line without a stable id: {line!r} (want: - [ ] `step-id` text)")
    return ChecklistStep(match.group(2), match.group(3), section)


def load(name: str, override_dir: Path | None = None) -> Runbook:
    """The runbook file `name` (e.g. prompt_injection.md): the user's folder first, then the built-ins."""
    if override_dir is not None and (override_dir / name).is_file():
        return parse((override_dir / name).read_text("utf-8"), name)
    resource = resources.files("irflow.runbooks").joinpath(name)
    if not resource.is_file():
        raise RunbookError(f"{name}: no such runbook (built-in or in IRFLOW_RUNBOOKS)")
    return parse(resource.read_text("utf-8"), name)
