"""The playbook the integration tests write into a tmp playbooks folder: one header (a prompt-injection playbook
that passes the catalog's rules) and the steps each test gives it, flush left as a YAML list."""

from __future__ import annotations

import textwrap

HEADER = """\
id: 0b7d6f0e-3c1a-4e2b-9f5d-7a8c9b0d1e2f
title: Test playbook
status: experimental
severity: high
tags: [owasp.llm01, atlas.aml.t0051.000]
runbook: prompt_injection.md
description: for tests
trigger:
  categories: [prompt_injection]
steps:
"""
SUSPEND = """\
- id: suspend
  action: users.suspend
  args: {user: "{{ incident.actor.user }}"}
"""
GATED_BLOCK = """\
- id: block-key
  action: keys.block
  requires_approval: true
  args: {key: "{{ incident.actor.api_key }}"}
"""


def playbook_yaml(steps: str) -> str:
    """The header and these steps, indented under its `steps:`."""
    return HEADER + textwrap.indent(textwrap.dedent(steps), "  ")
