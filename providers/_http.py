"""One HTTP exchange with a provider: bounded retries (tenacity), Retry-After, and what may have reached it.

Two policies. A lookup is a read: retry connect errors, timeouts, 429 and 5xx. A cancel is retried only when
it surely did not reach the provider (connect errors) or the provider refused it before acting (429, 503);
anything after the request may have been sent is reported, never repeated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

Sleep = Callable[[float], None]

# Nothing left the machine, or the connection never opened: the provider did not see the request.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


@dataclass(frozen=True)
class RetryPolicy:
    retry_statuses: frozenset[int]
    retry_after_send_errors: bool
    max_attempts: int = 3
    max_total_seconds: float = 20.0
    backoff_max_seconds: float = 4.0
    retry_after_cap_seconds: float = 10.0


LOOKUP_POLICY = RetryPolicy(retry_statuses=frozenset({429, *range(500, 600)}), retry_after_send_errors=True)
CANCEL_POLICY = RetryPolicy(retry_statuses=frozenset({429, 503}), retry_after_send_errors=False)


@dataclass(frozen=True)
class Exchange:
    """The last answer (or transport error) after retries, and whether the request may have been received."""

    response: httpx.Response | None
    error: httpx.TransportError | None
    attempts: int
    elapsed_ms: int

    @property
    def may_have_reached_provider(self) -> bool:
        return self.response is not None or not isinstance(self.error, NOT_SENT_ERRORS)

    @property
    def timed_out_after_send(self) -> bool:
        return isinstance(self.error, httpx.TimeoutException) and self.may_have_reached_provider


def exchange(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    policy: RetryPolicy,
    *,
    sleep: Sleep = time.sleep,
) -> Exchange:
    """Send the request `build` makes (called anew for each attempt, so signatures stay fresh)."""
    started = time.monotonic()

    def should_retry_error(exc: BaseException) -> bool:
        if isinstance(exc, NOT_SENT_ERRORS):
            return True
        return policy.retry_after_send_errors and isinstance(exc, httpx.TransportError)

    def should_retry_response(response: httpx.Response) -> bool:
        return response.status_code in policy.retry_statuses

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            delay = retry_after_seconds(outcome.result())
            if delay is not None:
                return min(delay, policy.retry_after_cap_seconds)
        jitter: float = wait_random_exponential(multiplier=0.25, max=policy.backoff_max_seconds)(state)
        return jitter

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total_seconds),
        wait=wait,
        retry=retry_if_exception(should_retry_error) | retry_if_result(should_retry_response),
        sleep=sleep,
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    attempts = 0

    def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        response = client.send(build())
        response.read()
        return response

    try:
        response = retrying(attempt)
        error = None
    except httpx.TransportError as exc:
        response, error = None, exc
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return Exchange(response=response, error=error, attempts=attempts, elapsed_ms=elapsed_ms)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (either form the RFC allows), or None when absent or unreadable."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, NOT_SENT_ERRORS):
        return "could not connect (the request was not sent)"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time after the request was sent"
    return f"the connection failed after the request was sent ({type(error).__name__})"


_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    """A short, tag-free piece of a body for people to read (HTML error pages included)."""
    text = _SPACE.sub(" ", _TAGS.sub(" ", response.text)).strip()
    if not text:
        return "empty body"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_body(response: httpx.Response, **kwargs: Any) -> Any:
    """The parsed body, or None when it is empty or not JSON."""
    import json

    try:
        return json.loads(response.content, **kwargs) if response.content else None
    except ValueError:
        return None
