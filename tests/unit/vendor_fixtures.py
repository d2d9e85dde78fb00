"""The vendor fixtures under tests/fixtures/<source>/*.json (citations in each SOURCES.md) and what each must
normalize to; shared by test_normalize_vendors.py, test_normalize_mapping.py and test_normalize_vendor_types.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"
VENDORS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@dataclass(frozen=True)
class Expect:
    category: str
    owasp: str | None
    atlas: list[str]
    detector: str
    severity: str
    direction: str = "unknown"
    actor: dict[str, str] = field(default_factory=dict)


PI, LEAK = ["AML.T0051.000"], ["AML.T0055", "AML.T0091.000"]
KEY_HASH = "5f0b7a2c9d4e81f36a0b2c4d6e8f10213243546576879809a1b2c3d4e5f60718"
VIRTUAL_KEY = {"user": "cust-7731", "api_key": KEY_HASH, "team": "team-support", "session": "sess-5e1f",
               "ip": "198.51.100.23"}

CASES: dict[str, Expect] = {
    # LiteLLM: the master key of the real capture is no actor; the end user and IP are.
    "litellm/guardrail_intervened_blocked_word": Expect("prompt_injection", "LLM01", PI, "litellm.guardrail.pi-filter",
                                                        "high", "input", {"user": "enduser-42", "ip": "127.0.0.1"}),
    "litellm/virtual_key_pattern_aws_access_key": Expect("leaked_api_key", "LLM02", LEAK, "litellm.content_filter.aws_key",
                                                         "critical", "input", VIRTUAL_KEY),
    "litellm/presidio_pii_masked": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "litellm.presidio", "high",
                                          "input", VIRTUAL_KEY),
    "litellm/lakera_v2_passthrough": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                            "lakera.prompt_attack", "high", "input", VIRTUAL_KEY),
    "litellm/budget_exceeded": Expect("cost_abuse", "LLM10", ["AML.T0034"], "litellm.budget_exceeded", "medium",
                                      actor={"api_key": KEY_HASH, "team": "team-support", "ip": "198.51.100.23"}),
    "litellm/error_body_guardrail_blocked": Expect("prompt_injection", "LLM01", PI, "litellm.guardrail.pi-filter",
                                                   "high", "input"),
    "litellm/error_body_bedrock_guardrail": Expect("other", None, [], "bedrock.denied_topic", "low"),
    "lakera/prompt_attack": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"], "lakera.prompt_attack",
                                   "high", "input",
                                   {"user": "mallory@example.net", "session": "sess-91ac", "ip": "203.0.113.77"}),
    "lakera/unknown_links": Expect("improper_output", "LLM05", ["AML.T0077"], "lakera.unknown_links", "medium", "output",
                                   {"user": "u-4410", "session": "sess-77b0"}),
    "lakera/moderated_content_hate": Expect("harmful_content", "LLM09", ["AML.T0048"], "lakera.moderated_content",
                                            "medium"),
    "lakera/pii_email": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "lakera.pii", "high", "input",
                               {"user": "u-2291", "session": "sess-0c1d", "ip": "192.0.2.10"}),
    "llm-guard/prompt_injection": Expect("prompt_injection", "LLM01", PI, "llm-guard.prompt_injection", "high", "input"),
    "llm-guard/secrets": Expect("leaked_api_key", "LLM02", LEAK, "llm-guard.secrets", "critical", "input"),
    "llm-guard/toxicity_output": Expect("harmful_content", "LLM09", ["AML.T0048"], "llm-guard.toxicity", "medium",
                                        "output"),
    "llm-guard/ban_topics": Expect("harmful_content", "LLM09", ["AML.T0048"], "llm-guard.ban_topics", "low", "input"),
    "llm-guard/anonymize": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "llm-guard.anonymize", "medium",
                                  "input"),
    "llm-guard/invisible_text": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0068"],
                                       "llm-guard.invisible_text", "high", "input"),
    "llm-guard/gibberish": Expect("other", None, ["AML.T0043"], "llm-guard.gibberish", "low", "input"),
    "nemo/self_check_input": Expect("prompt_injection", "LLM01", PI, "nemo.self_check_input", "high", "input"),
    "nemo/jailbreak_detection_heuristics": Expect("jailbreak", "LLM01", ["AML.T0054"], "nemo.jailbreak_heuristics",
                                                  "high", "input"),
    "nemo/sensitive_data_output": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "nemo.sensitive_data", "high",
                                         "output"),
    "nemo/content_safety_check_input": Expect("harmful_content", "LLM09", ["AML.T0048"], "nemo.content_safety",
                                              "medium", "input"),
    "bedrock/apply_prompt_attack": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                          "bedrock.prompt_attack", "high"),
    "bedrock/apply_hate_medium": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.content", "medium"),
    "bedrock/apply_denied_topic": Expect("other", None, [], "bedrock.denied_topic", "low"),
    "bedrock/apply_profanity": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.profanity", "low"),
    "bedrock/apply_aws_access_key": Expect("leaked_api_key", "LLM02", LEAK, "bedrock.aws_key", "critical"),
    "bedrock/converse_grounding_output": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.grounding", "low",
                                                "output"),
    "azure-prompt-shields/user_prompt_attack": Expect("jailbreak", "LLM01", ["AML.T0054", "AML.T0051.000"],
                                                      "azure-prompt-shields.user_prompt", "high", "input"),
    "azure-prompt-shields/document_attack": Expect("indirect_prompt_injection", "LLM01", ["AML.T0051.001"],
                                                   "azure-prompt-shields.document", "high", "input"),
    "model-armor/pi_and_jailbreak": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                           "model-armor.pi_and_jailbreak", "high"),
    "model-armor/pi_and_jailbreak_numeric_enums": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                                         "model-armor.pi_and_jailbreak", "high"),
    "model-armor/rai_hate_speech": Expect("harmful_content", "LLM09", ["AML.T0048"], "model-armor.rai", "medium"),
    "model-armor/sdp_aws_credentials": Expect("leaked_api_key", "LLM02", LEAK, "model-armor.sdp_credentials", "critical"),
    "model-armor/malicious_uris": Expect("other", None, ["AML.T0011.003"], "model-armor.malicious_uris", "high"),
    "prompt-security/prompt_injection_block": Expect("prompt_injection", "LLM01", PI, "prompt-security.prompt_injection",
                                                     "high", "input"),
    "prompt-security/secrets_block": Expect("leaked_api_key", "LLM02", LEAK, "prompt-security.secrets", "critical",
                                            "input"),
    "prompt-security/response_pii_block": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "prompt-security.pii",
                                                 "high", "output"),
    "prompt-security/response_prompt_leak": Expect("system_prompt_leak", "LLM07", ["AML.T0056"],
                                                   "prompt-security.prompt_leak", "high", "output"),
    "prompt-security/response_modify": Expect("other", None, [], "prompt-security.fallback", "medium", "output"),
    "ocsf/atlas_indirect_injection": Expect("indirect_prompt_injection", "LLM01", ["AML.T0051.001"],
                                            "ocsf.atlas.indirect_injection", "high", "unknown",
                                            {"user": "dana@example.org", "session": "sess-c41d", "ip": "192.0.2.44"}),
}

IGNORED: dict[str, str] = {
    "litellm/ignored_success": "call not flagged by any guardrail",
    "litellm/ignored_rate_limited": "without a security reason (RateLimitError)",
    "litellm/ignored_error_body_auth": "without a guardrail block",
    "lakera/ignored_not_flagged": "did not flag",
    "llm-guard/ignored_valid": "found the text valid",
    "nemo/ignored_no_stop": "no NeMo Guardrails rail stopped",
    "bedrock/ignored_action_none": "did not intervene",
    "azure-prompt-shields/ignored_no_attack": "detected no attack",
    "model-armor/ignored_no_match": "NO_MATCH_FOUND",
    "prompt-security/ignored_allow": "no violation",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def all_fixtures() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in FIXTURES.glob("*/*.json"))
