"""Contract: what the Kajabi adapter sends and what it accepts validate against Kajabi's official OpenAPI spec."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from providers.base import Outcome
from providers.kajabi import KajabiProvider
from tests.support.providers import JSON_API, ScriptedServer, Sleeps, json_response, jsonapi_error, purchase, token

# Kajabi's official spec (Apache 2.0, as its `info.license` says), kept beside the adapter it checks.
SPEC = Path(__file__).resolve().parents[2] / "providers" / "kajabi.openapi.yaml"
BASE = "https://api.kajabi.com"


@cache
def spec() -> OpenAPI:
    # Kajabi's published spec declares one parameter (`include`) twice, which openapi-spec-validator rejects;
    # that flaw is in a path this project does not use, so the spec document itself is not validated here.
    return OpenAPI.from_file_path(str(SPEC), config=Config(spec_validator_cls=None))


class SpecRequest:
    """An httpx.Request seen through openapi-core's Request protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    host_url = property(lambda self: f"{self._request.url.scheme}://{self._request.url.host}")
    path = property(lambda self: self._request.url.path)
    method = property(lambda self: self._request.method.lower())
    body = property(lambda self: self._request.content or None)
    content_type = property(lambda self: self._request.headers.get("content-type", "").lower())


class SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    status_code = property(lambda self: self._response.status_code)
    data = property(lambda self: self._response.content)
    content_type = property(lambda self: self._response.headers.get("content-type", "").lower())
    headers = property(lambda self: Headers(dict(self._response.headers)))


def recorded(server: ScriptedServer) -> list[tuple[httpx.Request, httpx.Response]]:
    """Wrap the server so each request is kept with the response it got."""
    pairs: list[tuple[httpx.Request, httpx.Response]] = []
    inner = server.handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        pairs.append((request, response))
        return response

    server.handler = handler  # type: ignore[method-assign]
    return pairs


def make(server: ScriptedServer) -> KajabiProvider:
    return KajabiProvider(
        client=server.client(), client_id="cid", client_secret="csecret", base_url=BASE, sleep=Sleeps()
    )


def assert_valid(pairs: list[tuple[httpx.Request, httpx.Response]]) -> None:
    assert pairs
    for request, response in pairs:
        spec().validate_request(SpecRequest(request))  # type: ignore[arg-type]
        spec().validate_response(SpecRequest(request), SpecResponse(response))  # type: ignore[arg-type]


def customer() -> httpx.Response:
    body: dict[str, Any] = {
        "data": {"id": "777", "type": "customers", "attributes": {"name": "Ada Lovelace", "email": "ada@example.com"}}
    }
    return json_response(200, body, content_type=JSON_API)


def offer() -> httpx.Response:
    body: dict[str, Any] = {
        "data": {"id": "888", "type": "offers", "attributes": {"title": "Pro monthly", "subscription": True}}
    }
    return json_response(200, body, content_type=JSON_API)


def test_cancel_request_and_success_response_follow_the_spec() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on(
        "POST", "/v1/purchases/2150820/cancel_subscription", json_response(200, purchase(), content_type=JSON_API)
    )
    pairs = recorded(server)
    assert make(server).cancel("2150820").outcome is Outcome.CANCELLED
    assert_valid(pairs)


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_documented_cancel_errors_follow_the_spec(status: int) -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on(
        "POST", "/v1/purchases/2150820/cancel_subscription", jsonapi_error(status, "Error", "detail", pointer="/data")
    )
    # (`"source": null`, which Kajabi also documents, fails this spec: it says `nullable` in a 3.1 document.)
    pairs = recorded(server)
    make(server).cancel("2150820")
    assert_valid(pairs)


def test_lookup_requests_and_responses_follow_the_spec() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/purchases/2150820", json_response(200, purchase(), content_type=JSON_API))
    server.on("GET", "/v1/customers/777", customer()).on("GET", "/v1/offers/888", offer())
    pairs = recorded(server)
    assert make(server).lookup("2150820").found
    assert_valid(pairs)
    assert {r.url.path for r, _ in pairs} == {
        "/v1/oauth/token",
        "/v1/purchases/2150820",
        "/v1/customers/777",
        "/v1/offers/888",
    }


def test_token_error_answers_follow_the_spec() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", json_response(401, {"error": "Invalid client"}))
    pairs = recorded(server)
    assert make(server).cancel("2150820").outcome is Outcome.AUTH_FAILED
    assert_valid(pairs)


def test_the_spec_would_catch_a_wrong_request() -> None:
    """The contract check has teeth: a JSON token request is not what Kajabi documents."""
    from openapi_core.validation.request.exceptions import RequestValidationError

    wrong = httpx.Request("POST", f"{BASE}/v1/oauth/token", json={"grant_type": "client_credentials"})
    with pytest.raises(RequestValidationError):
        spec().validate_request(SpecRequest(wrong))  # type: ignore[arg-type]
