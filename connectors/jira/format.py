"""Pure builders for what goes on the Jira wire: issue fields, rich text in both dialects, JQL literals.

No I/O here, so every shape is testable without a server. Cloud (REST v3) rich text is an Atlassian
Document Format (ADF) document; Data Center (REST v2) rich text is wiki markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from irflow.connectors.jira.interface import Attributes
from irflow.redaction import SafeText

ApiVersion = Literal["2", "3"]
SUMMARY_MAX = 255  # Jira refuses longer summaries with a 400
BASE_LABEL = "irflow"  # on every issue irflow opens: what polling searches for
_NOFORMAT = re.compile(r"\{noformat(:[^}]*)?\}", re.IGNORECASE)


def incident_label(incident_id: str) -> str:
    """The label that ties an issue to its incident; Jira labels cannot hold whitespace."""
    return "-".join(f"irflow-{incident_id}".split())


def jql_string(value: str) -> str:
    """A JQL string literal: quotes and backslashes escaped, so an id cannot change the query."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def issue_fields(
    *, project: str, issue_type: str, summary: SafeText, description: SafeText, priority: str,
    labels: list[str], incident_id: str, api_version: ApiVersion, components: Sequence[str] = (),
) -> dict[str, Any]:
    """The `fields` of a create-issue request.

    Project and issue type go by key and name so the library makes no extra lookups. The summary is
    one line of at most 255 characters, which Jira insists on.
    """
    fields: dict[str, Any] = {
        "project": {"key": project}, "issuetype": {"name": issue_type},
        "summary": " ".join(summary.split())[:SUMMARY_MAX],
        "description": rich_text(description, api_version),
        "labels": _labels(labels, incident_id),
    }
    if priority:
        fields["priority"] = {"name": priority}
    if components:
        fields["components"] = [{"name": name} for name in components]
    return fields


def custom_field_values(
    mapping: dict[str, str], attributes: Attributes, schemas: dict[str, dict[str, Any]], api_version: ApiVersion,
) -> dict[str, Any]:
    """`{field id: value}` for each mapped attribute present, shaped after the field's schema.

    `mapping` is attribute -> field id (already resolved from a name); `schemas` is field id -> the
    `schema` object of `GET /field`. A select takes `{"value": ...}`, a multi-select a list of those, a
    labels-like field whitespace-free strings, a number a number, a text area rich text.
    """
    values: dict[str, Any] = {}
    for attribute, field_id in mapping.items():
        if attribute in attributes:
            values[field_id] = shape_value(attributes[attribute], schemas.get(field_id, {}), api_version)
    return values


def shape_value(value: SafeText | Sequence[SafeText], schema: dict[str, Any], api_version: ApiVersion) -> Any:
    """One attribute value in the form a field of this schema accepts."""
    items = [str(value)] if isinstance(value, str) else [str(v) for v in value]
    kind, item_kind = schema.get("type", "string"), schema.get("items", "string")
    if kind == "array":
        if item_kind == "option":
            return [{"value": v} for v in items]
        return ["-".join(v.split()) for v in items if v.strip()]
    if kind == "option":
        return {"value": items[0] if items else ""}
    if kind == "number":
        return float(items[0]) if items else None
    text = ", ".join(items)
    if str(schema.get("custom", "")).endswith(":textarea") and api_version == "3":
        return adf_document(text)
    return text


def rich_text(text: SafeText, api_version: ApiVersion) -> dict[str, Any] | str:
    """A description or comment body in the dialect of the API version."""
    return adf_document(text) if api_version == "3" else wiki_noformat(text)


def adf_document(text: str) -> dict[str, Any]:
    """An ADF doc: blank-line separated paragraphs, lines starting with ">" as a blockquote.

    Plain text nodes and no marks, so nothing in the (already defanged) text becomes a link; no
    codeBlock either, so long lines wrap for the human reading the ticket.
    """
    blocks = [_adf_block(chunk) for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if chunk.strip()]
    return {"type": "doc", "version": 1, "content": blocks or [{"type": "paragraph", "content": []}]}


def _adf_block(chunk: str) -> dict[str, Any]:
    lines = chunk.strip("\n").split("\n")
    if all(line.startswith(">") for line in lines):
        quoted = [line[1:].removeprefix(" ") for line in lines]
        return {"type": "blockquote", "content": [_adf_paragraph(quoted)]}
    return _adf_paragraph(lines)


def _adf_paragraph(lines: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for line in lines:
        if content:
            content.append({"type": "hardBreak"})
        if line:  # ADF text nodes must not be empty
            content.append({"type": "text", "text": line})
    return {"type": "paragraph", "content": content}


def plain_text(body: Any) -> str:
    """The text of a comment body as a person typed it: an ADF document (v3) or wiki markup (v2).

    Block nodes become lines, so `/irflow resolve` typed as the first paragraph is the first line.
    """
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    if body.get("type") == "text":
        return str(body.get("text", ""))
    if body.get("type") == "hardBreak":
        return "\n"
    inner = "".join(plain_text(node) for node in body.get("content") or [])
    return inner + "\n" if body.get("type") in {"paragraph", "heading", "codeBlock", "blockquote"} else inner


def wiki_noformat(text: str) -> str:
    """Wiki markup that Jira shows verbatim: the text inside {noformat}.

    A `{noformat}` inside the text would close the block early and let the rest render as markup, so
    each one is broken up first.
    """
    inner = _NOFORMAT.sub(lambda m: m.group(0).replace("{", "{\u200b", 1), text)
    return "{noformat}\n" + inner + "\n{noformat}"


def _labels(labels: list[str], incident_id: str) -> list[str]:
    wanted = ["-".join(label.split()) for label in labels] + [BASE_LABEL, incident_label(incident_id)]
    return [label for i, label in enumerate(wanted) if label and label not in wanted[:i]]
