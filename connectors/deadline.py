"""A playbook step's `timeout`, enforced where it can be: in every connector request the step makes.

Prefect cannot interrupt a synchronous task running off the main thread, and abandoning a thread that is
still talking to a target would leave irflow not knowing what the target did. So instead the step's deadline
travels in a context variable: each request is sent with the smaller of the connector's own timeout and the
time the step has left, and a step whose time is up sends nothing more. The step then ends as
`StepTimedOut` (an `Unavailable`, so the step's retries apply).

The bound is `requests`' own: the timeout limits connecting and each wait for the next bytes, not the whole
exchange. A target that answers within the time left is never cut off; one that goes silent is cut off
when the step's time is up; one that trickles an answer a few bytes at a time can keep a single request
going past it (the next request is then refused). boto3 clients have their timeouts fixed when built, so
for AWS the deadline only stops the next call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from irflow.connectors.errors import Unavailable

MIN_REQUEST_S = 0.05
"""A request is never sent with less than this: below it, it could only time out."""

_deadline: ContextVar[tuple[float, float] | None] = ContextVar("irflow_step_deadline", default=None)
"""(monotonic time the step must end by, the step's timeout in seconds) while a step runs."""


class StepTimedOut(Unavailable):
    """The step's `timeout` ran out before its connector calls finished."""


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Run a step's connector calls under its timeout; None (an undo, a manual call) leaves them unbounded."""
    if seconds is None:
        yield
        return
    token = _deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def request_timeout(own: float, *, system: str) -> float:
    """The timeout for the next request: the connector's own, cut to what the step has left.

    Raises StepTimedOut when the step has no time left for another request.
    """
    current = _deadline.get()
    if current is None:
        return own
    end, seconds = current
    left = end - time.monotonic()
    if left < MIN_REQUEST_S:
        raise StepTimedOut(f"step timeout of {seconds:g}s reached", system=system)
    return min(own, left)


def timed_out(system: str) -> StepTimedOut | None:
    """After a request timed out: the StepTimedOut to raise when it was the step's deadline that cut it."""
    current = _deadline.get()
    if current is None or current[0] - time.monotonic() >= MIN_REQUEST_S:
        return None
    return StepTimedOut(f"step timeout of {current[1]:g}s reached", system=system)
