"""Every provider answer the README's outcome table lists, as runnable cases (one test each)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from providers.base import Outcome
from tests.support.providers import (
    ScriptedServer,
    connect_refused,
    html,
    json_response,
    jsonapi_error,
    purchase,
    raw,
    read_timeout,
    token,
)

KAJABI_CANCEL = "/v1/purchases/2150820/cancel_subscription"
KAJABI_TOKEN = "/v1/oauth/token"
ONEKEY = "/v3/subscriptions/219"


@dataclass(frozen=True)
class Case:
    provider: str
    answer: str  # as the README's table names it
    outcome: Outcome
    retry_safe: bool
    script: Callable[[ScriptedServer], None]
    cancel_calls: int = 1  # how many cancel requests reached the provider


def _kajabi(*answers: object, token_answers: tuple[object, ...] = ()) -> Callable[[ScriptedServer], None]:
    def script(server: ScriptedServer) -> None:
        server.on("POST", KAJABI_TOKEN, *(token_answers or (token(),)))  # type: ignore[arg-type]
        server.on("POST", KAJABI_CANCEL, *answers)  # type: ignore[arg-type]

    return script


def _onekey(*answers: object) -> Callable[[ScriptedServer], None]:
    def script(server: ScriptedServer) -> None:
        server.on("DELETE", ONEKEY, *answers)  # type: ignore[arg-type]

    return script


def _okp_error(status: int, code: int, description: str, kind: str) -> object:
    return json_response(status, {"code": code, "description": description, "type": kind})


JSONAPI = "application/vnd.api+json"

KAJABI_CASES = [
    Case(
        "kajabi",
        "200 with the purchase",
        Outcome.CANCELLED,
        False,
        _kajabi(json_response(200, purchase(), content_type=JSONAPI)),
    ),
    Case(
        "kajabi",
        "422 saying it is already cancelled",
        Outcome.ALREADY_CANCELLED,
        False,
        _kajabi(jsonapi_error(422, "Unprocessable", "Subscription has already been cancelled")),
    ),
    Case(
        "kajabi",
        "422 any other reason",
        Outcome.NOT_CANCELLABLE,
        False,
        _kajabi(jsonapi_error(422, "Unprocessable", "Purchase is not a subscription")),
    ),
    Case("kajabi", "404", Outcome.NOT_FOUND, False, _kajabi(jsonapi_error(404, "Not Found", "Record not found"))),
    Case(
        "kajabi", "403", Outcome.FORBIDDEN, False, _kajabi(jsonapi_error(403, "Forbidden", "Insufficient permission"))
    ),
    Case(
        "kajabi",
        "401, then 401 again after a fresh token",
        Outcome.AUTH_FAILED,
        False,
        _kajabi(jsonapi_error(401, "Unauthorized", "Invalid token")),
        cancel_calls=2,
    ),
    Case(
        "kajabi",
        "401, then 200 after a fresh token",
        Outcome.CANCELLED,
        False,
        _kajabi(
            jsonapi_error(401, "Unauthorized", "Token expired"),
            json_response(200, purchase(), content_type=JSONAPI),
            token_answers=(token("old"), token("new")),
        ),
        cancel_calls=2,
    ),
    Case(
        "kajabi",
        "token endpoint 401",
        Outcome.AUTH_FAILED,
        False,
        _kajabi(json_response(200, purchase()), token_answers=(json_response(401, {"error": "Invalid client"}),)),
        cancel_calls=0,
    ),
    Case(
        "kajabi",
        "token endpoint 400",
        Outcome.AUTH_FAILED,
        False,
        _kajabi(json_response(200, purchase()), token_answers=(json_response(400, {"error": "invalid_grant"}),)),
        cancel_calls=0,
    ),
    Case(
        "kajabi",
        "token endpoint 500 (after retries)",
        Outcome.PROVIDER_ERROR,
        True,
        _kajabi(json_response(200, purchase()), token_answers=(html(500),)),
        cancel_calls=0,
    ),
    Case(
        "kajabi",
        "429 with Retry-After, then 200",
        Outcome.CANCELLED,
        False,
        _kajabi(raw(429, b"", **{"Retry-After": "2"}), json_response(200, purchase(), content_type=JSONAPI)),
        cancel_calls=2,
    ),
    Case(
        "kajabi",
        "429 without Retry-After, every time",
        Outcome.RATE_LIMITED,
        True,
        _kajabi(raw(429, b"")),
        cancel_calls=3,
    ),
    Case(
        "kajabi",
        "503, then 200",
        Outcome.CANCELLED,
        False,
        _kajabi(html(503), json_response(200, purchase(), content_type=JSONAPI)),
        cancel_calls=2,
    ),
    Case("kajabi", "500 (not repeated: it may have acted)", Outcome.UNKNOWN, False, _kajabi(html(500, "oops"))),
    Case("kajabi", "502 HTML page (it may have acted)", Outcome.UNKNOWN, False, _kajabi(html(502))),
    Case("kajabi", "200 with an empty body", Outcome.UNKNOWN, False, _kajabi(raw(200, b""))),
    Case("kajabi", "200 with invalid JSON", Outcome.UNKNOWN, False, _kajabi(raw(200, b'{"data": {'))),
    Case(
        "kajabi", "200 with JSON of the wrong shape", Outcome.UNKNOWN, False, _kajabi(json_response(200, {"data": []}))
    ),
    Case("kajabi", "200 with an unexpected body", Outcome.UNKNOWN, False, _kajabi(html(200, "<html>Welcome</html>"))),
    Case(
        "kajabi",
        "connection refused (after retries)",
        Outcome.PROVIDER_ERROR,
        True,
        _kajabi(connect_refused()),
        cancel_calls=3,
    ),
    Case("kajabi", "read timeout (request sent; not repeated)", Outcome.UNKNOWN, False, _kajabi(read_timeout())),
]

ONEKEY_CASES = [
    Case("onekey", "200 with an empty body", Outcome.CANCELLED, False, _onekey(raw(200, b""))),
    Case("onekey", "200 with {}", Outcome.CANCELLED, False, _onekey(json_response(200, {}))),
    Case("onekey", "200 with an unexpected body", Outcome.CANCELLED, False, _onekey(html(200, "<html>ok</html>"))),
    Case(
        "onekey",
        "421 SUBSCRIPTION_ALREADY_CANCELLED",
        Outcome.ALREADY_CANCELLED,
        False,
        _onekey(_okp_error(421, 421, "Subscription was already cancelled.", "SUBSCRIPTION_ALREADY_CANCELLED")),
    ),
    Case(
        "onekey",
        "420 SUBSCRIPTION_NOT_FOUND",
        Outcome.NOT_FOUND,
        False,
        _onekey(_okp_error(420, 420, "Subscription does not exist.", "SUBSCRIPTION_NOT_FOUND")),
    ),
    Case(
        "onekey",
        "426 SUBSCRIPTION_IS_TERMINATED",
        Outcome.NOT_CANCELLABLE,
        False,
        _onekey(
            _okp_error(426, 426, "Subscription is terminated and cannot be cancelled.", "SUBSCRIPTION_IS_TERMINATED")
        ),
    ),
    Case(
        "onekey",
        "501 GENERIC_ERROR",
        Outcome.PROVIDER_ERROR,
        True,
        _onekey(_okp_error(501, 501, "Generic Error", "GENERIC_ERROR")),
    ),
    Case(
        "onekey",
        "401 INVALID_CREDENTIALS",
        Outcome.AUTH_FAILED,
        False,
        _onekey(_okp_error(401, 401, "Invalid credentials", "INVALID_CREDENTIALS")),
    ),
    Case(
        "onekey",
        "401 INVALID_SIGNATURE",
        Outcome.AUTH_FAILED,
        False,
        _onekey(_okp_error(401, 401, "Invalid signature", "INVALID_SIGNATURE")),
    ),
    Case(
        "onekey",
        "401 INVALID_IP",
        Outcome.AUTH_FAILED,
        False,
        _onekey(_okp_error(401, 401, "Invalid IP", "INVALID_IP")),
    ),
    Case(
        "onekey",
        "400 MISSING_REQUIRED_HEADER",
        Outcome.AUTH_FAILED,
        False,
        _onekey(_okp_error(400, 400, "Missing header X-Date", "MISSING_REQUIRED_HEADER")),
    ),
    Case(
        "onekey",
        "400 INVALID_DATE_RANGE (clock skew)",
        Outcome.AUTH_FAILED,
        False,
        _onekey(_okp_error(400, 400, "Invalid date", "INVALID_DATE_RANGE")),
    ),
    Case(
        "onekey",
        "403 FORBIDDEN_MERCHANT",
        Outcome.FORBIDDEN,
        False,
        _onekey(_okp_error(403, 403, "Forbidden", "FORBIDDEN_MERCHANT")),
    ),
    Case("onekey", "401 without OneKey's body", Outcome.AUTH_FAILED, False, _onekey(html(401, "Unauthorized"))),
    Case(
        "onekey",
        "400 whose type is SUBSCRIPTION_ALREADY_CANCELLED (type wins)",
        Outcome.ALREADY_CANCELLED,
        False,
        _onekey(_okp_error(400, 999, "already", "SUBSCRIPTION_ALREADY_CANCELLED")),
    ),
    Case(
        "onekey",
        "400 with code 421 and no type (code next)",
        Outcome.ALREADY_CANCELLED,
        False,
        _onekey(json_response(400, {"code": 421, "description": "Subscription was already cancelled."})),
    ),
    Case("onekey", "bare HTTP 421 without OneKey's body", Outcome.PROVIDER_ERROR, False, _onekey(raw(421, b""))),
    Case("onekey", "bare HTTP 426 without OneKey's body", Outcome.PROVIDER_ERROR, False, _onekey(html(426, "Upgrade"))),
    Case(
        "onekey",
        "429 with Retry-After, then 200",
        Outcome.CANCELLED,
        False,
        _onekey(raw(429, b"", **{"Retry-After": "1"}), raw(200, b"")),
        cancel_calls=2,
    ),
    Case(
        "onekey",
        "429 without Retry-After, every time",
        Outcome.RATE_LIMITED,
        True,
        _onekey(raw(429, b"")),
        cancel_calls=3,
    ),
    Case("onekey", "503, then 200", Outcome.CANCELLED, False, _onekey(html(503), raw(200, b"")), cancel_calls=2),
    Case("onekey", "502 HTML page", Outcome.PROVIDER_ERROR, True, _onekey(html(502))),
    Case("onekey", "500 with an empty body", Outcome.PROVIDER_ERROR, True, _onekey(raw(500, b""))),
    Case("onekey", "500 with invalid JSON", Outcome.PROVIDER_ERROR, True, _onekey(raw(500, b"{oops"))),
    Case(
        "onekey",
        "connection refused (after retries)",
        Outcome.PROVIDER_ERROR,
        True,
        _onekey(connect_refused()),
        cancel_calls=3,
    ),
    Case("onekey", "read timeout (request sent; not repeated)", Outcome.UNKNOWN, False, _onekey(read_timeout())),
]

CASES = KAJABI_CASES + ONEKEY_CASES


def case_id(case: Case) -> str:
    return f"{case.provider}: {case.answer}"
