"""A playbook step's `timeout` cuts every request its connector makes: a slow target fails the step as
StepTimedOut (retryable, like any unavailability) instead of holding it for the connector's own timeout, and
no request is sent once the step's time is up. Driven through the real LiteLLM client and loopback proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from irflow.connectors import deadline
from irflow.connectors.errors import Unavailable
from irflow.connectors.litellm.client import LiteLLMKeys
from irflow.connectors.litellm.settings import LiteLLMSettings
from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy

KEY = "sk-deadline-test-key-0001"


@pytest.fixture
def proxy() -> Iterator[LiteLLMProxy]:
    with LiteLLMProxy() as running:
        running.add_key(KEY, key_alias="chatbot")
        yield running


def keys_for(proxy: LiteLLMProxy, own_timeout: float) -> LiteLLMKeys:
    return LiteLLMKeys(LiteLLMSettings(proxy_url=proxy.url, master_key=SecretStr(MASTER_KEY), timeout=own_timeout))


def test_a_slow_answer_within_the_connector_timeout_still_fails_the_step(proxy: LiteLLMProxy) -> None:
    keys = keys_for(proxy, own_timeout=10)
    proxy.delay_next(2)
    with pytest.raises(deadline.StepTimedOut, match="step timeout of 0.4s reached") as caught:
        with deadline.within(0.4):
            keys.block(KEY)
    assert isinstance(caught.value, Unavailable) and caught.value.retryable


def test_without_a_step_the_connector_timeout_alone_applies(proxy: LiteLLMProxy) -> None:
    keys = keys_for(proxy, own_timeout=10)
    proxy.delay_next(0.6)
    assert keys.block(KEY).changed, "a 0.6 s answer is well within the connector's own 10 s"
    proxy.delay_next(0.6)
    with pytest.raises(Unavailable, match="no answer within 0.3s") as caught:
        keys_for(proxy, own_timeout=0.3).unblock(KEY)
    assert not isinstance(caught.value, deadline.StepTimedOut), "the connector's timeout, not a step's"


def test_no_request_is_sent_once_the_step_is_out_of_time(proxy: LiteLLMProxy) -> None:
    keys = keys_for(proxy, own_timeout=10)
    with deadline.within(0.01), pytest.raises(deadline.StepTimedOut):
        import time

        time.sleep(0.02)
        keys.block(KEY)
    assert proxy.requests == []


def test_the_deadline_ends_with_the_step() -> None:
    with deadline.within(5):
        assert deadline.request_timeout(10, system="x") <= 5
    assert deadline.request_timeout(10, system="x") == 10
