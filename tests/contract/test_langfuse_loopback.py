"""The loopback Langfuse in langfuse_server.py answers like Langfuse: Next's HTML 404, 405 before auth,
credentials before the body, zod's 400s, labels moved and kept, reads by label, version and folder name,
paged metadata and new versions, so a client bug cannot pass against it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from tests.contract.langfuse_server import NEXT_404_PAGE, PUBLIC_KEY, SECRET_KEY, LangfuseServer
from tests.contract.prompt_registry_rig import ALIAS, TEMPLATES
from tests.contract.prompt_registry_rig import fixture_langfuse  # noqa: F401 - fixtures, found by name


# --- the loopback answers like Langfuse ------------------------------------------------------------------
def call(server: LangfuseServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, server.url + path, auth=(PUBLIC_KEY, SECRET_KEY), timeout=5, **kwargs)


def test_loopback_unknown_path_is_nexts_html_404(langfuse: LangfuseServer) -> None:
    answer = call(langfuse, "GET", "/api/public/v2/promptz")
    assert answer.status_code == 404 and answer.text == NEXT_404_PAGE
    assert answer.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/public/v2/prompts"),
                                              ("PATCH", "/api/public/v2/prompts/support-bot"),
                                              ("POST", "/api/public/v2/prompts/support-bot/versions/1")])
def test_loopback_wrong_method_is_405_before_auth(langfuse: LangfuseServer, method: str, path: str) -> None:
    answer = requests.request(method, langfuse.url + path, timeout=5)
    assert (answer.status_code, answer.json()) == (405, {"message": "Method not allowed",
                                                          "error": "MethodNotAllowedError"})


@pytest.mark.parametrize(("authorization", "status", "message"), [
    (None, 401, "No authorization header"),
    ("Basic " + base64.b64encode(f"{PUBLIC_KEY}:wrong".encode()).decode(), 401,
     "Invalid credentials. Confirm that you've configured the correct host."),
    (f"Bearer {PUBLIC_KEY}", 403, "Access denied - need to use basic auth with secret key to PATCH prompts"),
])
def test_loopback_checks_credentials_before_the_body(langfuse: LangfuseServer, authorization: str | None,
                                                     status: int, message: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.patch(langfuse.url + "/api/public/v2/prompts/p/versions/1", data="{", headers=headers,
                            timeout=5)
    assert answer.status_code == status and answer.json()["message"] == message


@pytest.mark.parametrize("body", [{"newLabels": "production"}, {"newLabels": [1]}, {}, {"newLabels": ["latest"]}])
def test_loopback_wrong_body_is_a_zod_400(langfuse: LangfuseServer, body: object) -> None:
    langfuse.add_version("p", TEMPLATES[0])
    answer = call(langfuse, "PATCH", "/api/public/v2/prompts/p/versions/1", json=body)
    assert answer.status_code == 400 and answer.json()["message"] == "Invalid request data"
    assert answer.json()["error"][0]["path"] == ["newLabels"]


def test_loopback_moves_a_label_and_keeps_the_others(langfuse: LangfuseServer) -> None:
    langfuse.add_version("p", TEMPLATES[0], labels=["staging"])
    langfuse.add_version("p", TEMPLATES[1], labels=[ALIAS])
    moved = call(langfuse, "PATCH", "/api/public/v2/prompts/p/versions/1", json={"newLabels": [ALIAS]})
    assert moved.status_code == 200 and moved.json()["labels"] == ["staging", ALIAS]
    assert call(langfuse, "GET", "/api/public/v2/prompts/p", params={"version": "2"}).json()["labels"] == ["latest"]
    gone = call(langfuse, "PATCH", "/api/public/v2/prompts/p/versions/7", json={"newLabels": [ALIAS]})
    assert (gone.status_code, gone.json()) == (404, {"message": "Prompt not found: p", "error": "LangfuseNotFoundError"})


def test_loopback_reads_by_label_version_and_folder_name(langfuse: LangfuseServer) -> None:
    langfuse.add_version("team/bot", TEMPLATES[0], labels=[ALIAS])
    for path in ("/api/public/v2/prompts/team/bot", "/api/public/v2/prompts/team%2Fbot"):
        assert call(langfuse, "GET", path).json()["version"] == 1  # default label: production
    missing = call(langfuse, "GET", "/api/public/v2/prompts/team/bot", params={"label": "staging"})
    assert (missing.status_code, missing.json()) == (404, {"message": "Prompt not found: 'team/bot' with label "
                                                           "'staging'", "error": "LangfuseNotFoundError"})


def test_loopback_lists_prompt_metadata_in_pages(langfuse: LangfuseServer) -> None:
    for name in ("e", "a", "d", "b", "c"):
        langfuse.add_version(name, TEMPLATES[0])
    langfuse.add_version("a", TEMPLATES[1], labels=[ALIAS])
    pages = [call(langfuse, "GET", "/api/public/v2/prompts", params={"page": p, "limit": 2}).json() for p in (1, 2, 3, 4)]
    assert [[item["name"] for item in page["data"]] for page in pages] == [["a", "b"], ["c", "d"], ["e"], []]
    assert pages[0]["meta"] == {"page": 1, "limit": 2, "totalItems": 5, "totalPages": 3}
    assert pages[0]["data"][0]["versions"] == [1, 2] and pages[0]["data"][0]["labels"] == ["latest", ALIAS]
    only = call(langfuse, "GET", "/api/public/v2/prompts", params={"name": "a"}).json()
    assert [item["name"] for item in only["data"]] == ["a"] and only["meta"]["limit"] == 10
    assert call(langfuse, "GET", "/api/public/v2/prompts", params={"limit": 101}).status_code == 400


def test_loopback_creates_versions_like_langfuse(langfuse: LangfuseServer) -> None:
    first = call(langfuse, "POST", "/api/public/v2/prompts", json={"name": "p", "prompt": "v1", "labels": [ALIAS]})
    second = call(langfuse, "POST", "/api/public/v2/prompts", json={"name": "p", "prompt": "v2"})
    assert (first.status_code, first.json()["version"], second.json()["version"]) == (201, 1, 2)
    assert langfuse.labelled("p", ALIAS) == 1 and langfuse.labelled("p", "latest") == 2
