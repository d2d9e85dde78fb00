"""Azure AI Content Safety Prompt Shields: the `text:shieldPrompt` response.

`{"userPromptAnalysis": {"attackDetected": bool}, "documentsAnalysis": [{"attackDetected": bool}, ...]}`
(learn.microsoft.com, "Quickstart: Prompt Shields", api-version 2024-09-01). An attack in the user prompt
is a direct attack (jailbreak); an attack in a document is an indirect prompt injection. Both are
input to the model. Nothing detected is telemetry.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import VendorModel

SOURCE = "azure-prompt-shields"


class Analysis(VendorModel):
    attackDetected: bool


class ShieldPromptResponse(VendorModel):
    userPromptAnalysis: Analysis | None = None
    documentsAnalysis: list[Analysis] = Field(default_factory=list)


def looks_like(item: dict[str, Any]) -> bool:
    return "userPromptAnalysis" in item or "documentsAnalysis" in item


def normalize(item: Any, path: str) -> Alert:
    """One alert per response that found an attack in the prompt or any document.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    body = mapping.parse(ShieldPromptResponse, item, path, "a Prompt Shields response")
    found = []
    if body.userPromptAnalysis is not None and body.userPromptAnalysis.attackDetected:
        found.append(mapping.detection(SOURCE, ["user_prompt"], "user prompt", direction=Direction.input))
    found += [mapping.detection(SOURCE, ["document"], f"document {i}", direction=Direction.input)
              for i, doc in enumerate(body.documentsAnalysis) if doc.attackDetected]
    if not found:
        raise Ignored("telemetry: Prompt Shields detected no attack")
    return mapping.build_alert(SOURCE, path, item, found, direction=Direction.input)
