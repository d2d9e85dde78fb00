"""Canary secrets and PII for the redaction tests (test_redaction*.py).

Canary secrets are generated at import time from a fixed seed rather than written out, so these files
never trip secret scanners (push protection) and every run uses the same values. Every import-time draw
from the seeded generator happens here, in one fixed order, so a canary does not depend on which of the
test modules are collected.
"""

from __future__ import annotations

import base64
import json
import random
import string

_RNG = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def b64url_json(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def jwt() -> str:
    return f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json({'sub': rand(12)})}.{rand(43, URLSAFE)}"


PEM_BODY = "MII" + rand(60, B64)
SECRET_CASES: list[tuple[str, str, str]] = [  # (kind, text, canary that must vanish)
    ("openai_key", "OPENAI key {c} leaked", "sk-" + "proj-" + rand(48, URLSAFE)),
    ("openai_key", "legacy {c}", "sk-" + rand(20) + "T3Blbk" + "FJ" + rand(20)),
    ("anthropic_key", "claude key {c}", "sk-" + "ant-api03-" + rand(93, URLSAFE)),
    ("litellm_key", "virtual key {c} for team", "sk-" + rand(22, URLSAFE)),
    ("aws_access_key_id", "id={c}", "AKIA" + rand(16, string.ascii_uppercase + string.digits)),
    ("aws_access_key_id", "session {c}", "ASIA" + rand(16, string.ascii_uppercase + string.digits)),
    ("aws_secret_access_key", "aws_secret_access_key = {c}", rand(40, B64)),
    ("aws_secret_access_key", '{{"SecretAccessKey": "{c}"}}', rand(40, B64)),
    ("high_entropy_secret", "blob {c} end", rand(40, B64)),
    ("slack_token", "bot {c}", "xox" + "b-" + rand(12, string.digits) + "-" + rand(24)),
    ("slack_token", "user {c}", "xox" + "p-" + rand(12, string.digits) + "-" + rand(32)),
    ("slack_token", "app {c}", "xa" + "pp-1-" + rand(11) + "-" + rand(40, string.hexdigits)),
    ("slack_webhook", "post to https://hooks.slack.com/services/{c}", f"T{rand(8)}/B{rand(8)}/{rand(24)}"),
    ("github_token", "gh {c}", "gh" + "p_" + rand(36)),
    ("github_token", "oauth {c}", "gh" + "o_" + rand(36)),
    ("github_token", "u2s {c}", "gh" + "u_" + rand(36)),
    ("github_token", "s2s {c}", "gh" + "s_" + rand(36)),
    ("github_token", "refresh {c}", "gh" + "r_" + rand(36)),
    ("github_token", "fine-grained {c}", "github" + "_pat_" + rand(22) + "_" + rand(59)),
    ("google_api_key", "maps {c}", "AI" + "za" + rand(35, URLSAFE)),
    ("jwt", "cookie session={c}", jwt()),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\n{c}\n-----END RSA PRIVATE KEY-----", PEM_BODY),
    ("private_key", "key: -----BEGIN OPENSSH PRIVATE KEY-----\n{c}\nand the rest is gone", PEM_BODY),
    ("bearer_token", "Authorization: Bearer {c}", rand(32, URLSAFE + ".")),
    ("bearer_token", "sent bearer {c} upstream", rand(20)),
    ("auth_header", "Authorization: Basic {c}", base64.b64encode(rand(20).encode()).decode()),
    ("url_password", "postgres://admin:{c}@db.internal:5432/app", rand(16)),
    ("url_password", "redis://:{c}@cache:6379", rand(12)),
    ("password", "password={c}", rand(10)),
    ("password", 'DB_PASSWORD: "{c}"', "correct horse " + rand(6)),
    ("api_key", "x-api-key: {c}", rand(20)),
    ("api_key", "OPENAI_API_KEY={c}", rand(30)),
    ("token", "?access_token={c}", rand(24)),
    ("secret", "client_secret: '{c}'", rand(16)),
]

CUT_KEY = "sk-" + "proj-" + rand(40, URLSAFE)
"""A key for the truncation tests; drawn right after SECRET_CASES, as it always was."""

PII_CASES = [
    ("email", "bob.smith+alerts@example.co.uk"),
    ("email", "josé@exämple.de"),
    ("phone", "+14155552671"),
    ("phone", "+1 (415) 555-2671"),
    ("phone", "(415) 555-2671"),
    ("phone", "415-555-2671"),
    ("phone", "415.555.2671"),
    ("phone", "+49 30 12345678"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "06 12 34 56 78"),
    ("phone", "030 12345678"),
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "5555555555554444"),
    ("credit_card", "3782-822463-10005"),
    ("credit_card", "4012-8888-8888-1881"),
    ("ssn", "123-45-6789"),
    ("iban", "DE89370400440532013000"),
    ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "FR1420041010050500013M02606"),
]
