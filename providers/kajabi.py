"""Kajabi Public API v1: OAuth client-credentials, purchase lookup, cancel_subscription.

Documented facts used here: the token endpoint takes a form-encoded body and answers `{"error": ...}` on 400/401;
resources speak JSON:API; the cancel is immediate and is `POST /v1/purchases/{id}/cancel_subscription`
(never `/deactivate`, which leaves the subscription running). UNCONFIRMED, so kept visible: the texts of 422
answers are undocumented; "already cancelled" is recognized by its words and otherwise shown verbatim.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from providers import _http
from providers.base import (
    CancelEffect,
    CancelResult,
    Candidate,
    EmailSearch,
    InvalidSubscriptionId,
    LookupResult,
    Outcome,
    SubscriptionSnapshot,
    SubscriptionStatus,
    active_first,
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PAGE_SIZE = 50  # purchases asked for a page
SEARCH_PURCHASES = 200  # at most this many of one customer's purchases are listed
JSON_API = "application/vnd.api+json"
# Fetch a new token this long before the old one runs out, so no call carries a token that dies in flight.
TOKEN_MARGIN_SECONDS = 30.0
_ALREADY_CANCELLED = re.compile(r"already\s+(been\s+)?(cancel+ed|canceled|deactivated)", re.IGNORECASE)


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass(frozen=True)
class _Failure:
    """A call that produced no usable answer, already normalized."""

    outcome: Outcome
    detail: str
    http_status: int | None
    retry_safe: bool


class KajabiProvider:
    name = "kajabi"
    label = "Kajabi"
    effect = CancelEffect(immediate=True, refunds=False, reversible=False)
    id_hint = "a Kajabi purchase id: letters, digits, - and _ (at most 64)"

    def __init__(
        self,
        *,
        client: httpx.Client,
        client_id: str,
        client_secret: str,
        base_url: str = "https://api.kajabi.com",
        site_id: str = "",
        sleep: _http.Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._base = base_url.rstrip("/")
        self._site_id = site_id
        self._sleep = sleep
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KajabiProvider(base_url={self._base!r})"

    def validate_id(self, raw: str) -> str:
        value = raw.strip()
        if not ID_PATTERN.fullmatch(value):
            raise InvalidSubscriptionId(f"{_shorten(value)!r} is not {self.id_hint}")
        return value

    # -- lookups -----------------------------------------------------------------------------------------

    def lookup(self, subscription_id: str) -> LookupResult:
        purchase_id = self.validate_id(subscription_id)
        started = time.monotonic()
        answer = self._resource("GET", f"/v1/purchases/{quote(purchase_id, safe='')}", _http.LOOKUP_POLICY)
        elapsed = _ms_since(started)
        if isinstance(answer, _Failure):
            return LookupResult(None, answer.outcome, answer.detail, answer.http_status, elapsed)
        response = answer
        if response.status_code != 200:
            failure = _classify_error(response, cancelling=False)
            return LookupResult(None, failure.outcome, failure.detail, response.status_code, elapsed)
        purchase = _purchase(response)
        if purchase is None:
            return LookupResult(
                None, Outcome.UNKNOWN, f"unreadable purchase: {_http.body_excerpt(response)}", 200, elapsed
            )
        snapshot = self._snapshot(purchase_id, purchase)
        return LookupResult(snapshot, None, "", 200, _ms_since(started))

    def _snapshot(self, purchase_id: str, purchase: dict[str, Any]) -> SubscriptionSnapshot:
        attributes = purchase.get("attributes") or {}
        relationships = purchase.get("relationships") or {}
        notes: list[str] = []
        deactivated_at = attributes.get("deactivated_at")
        status = SubscriptionStatus.DEACTIVATED if deactivated_at else SubscriptionStatus.ACTIVE
        # `status` is described in the docs ("the status of the plan") but not in the schema, and its values are
        # not listed (UNCONFIRMED): only a value that says cancelled is trusted, anything else is shown as a note.
        plan_status = attributes.get("status")
        if isinstance(plan_status, str) and plan_status:
            if "cancel" in plan_status.lower():
                status = SubscriptionStatus.CANCELLED
            else:
                notes.append(f"Kajabi plan status: {plan_status}")
        if deactivated_at and status is not SubscriptionStatus.CANCELLED:
            reason = attributes.get("deactivation_reason") or "no reason given"
            notes.append(f"purchase deactivated at {deactivated_at} ({reason}); the subscription may still run")

        customer_name = customer_email = plan = None
        customer_id = _related_id(relationships, "customer")
        if customer_id:
            customer = self._related(f"/v1/customers/{quote(customer_id, safe='')}")
            if customer is None:
                notes.append("customer details could not be read")
            else:
                customer_name, customer_email = customer.get("name"), customer.get("email")
        offer_id = _related_id(relationships, "offer")
        if offer_id:
            offer = self._related(f"/v1/offers/{quote(offer_id, safe='')}")
            if offer is None:
                notes.append("offer details could not be read")
            else:
                plan = offer.get("title")
                if offer.get("subscription") is False:
                    notes.append("the offer is not a subscription; Kajabi may refuse the cancel")

        cents = attributes.get("amount_in_cents")
        amount = str(Decimal(cents) / 100) if isinstance(cents, int) else None
        currency = attributes.get("currency")
        dates = {
            key: str(attributes[key])
            for key in ("created_at", "effective_start_at", "deactivated_at")
            if attributes.get(key)
        }
        return SubscriptionSnapshot(
            subscription_id=purchase_id,
            status=status,
            customer_name=customer_name,
            customer_email=customer_email,
            plan=plan,
            amount=amount,
            currency=currency.upper() if isinstance(currency, str) else None,
            dates=dates,
            notes=tuple(notes),
        )

    def _related(self, path: str) -> dict[str, Any] | None:
        """Attributes of a related resource, or None: its failure never fails the lookup."""
        answer = self._resource("GET", path, _http.LOOKUP_POLICY)
        if isinstance(answer, _Failure) or answer.status_code != 200:
            return None
        body = _http.json_body(answer)
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        return attributes if isinstance(attributes, dict) else None

    # -- search by email ---------------------------------------------------------------------------------

    def find_by_email(self, email: str) -> EmailSearch:
        """The customers whose email is exactly this (Kajabi's search is fuzzy: by name or email), and, when there
        is one, their purchases (at most SEARCH_PURCHASES of them), active ones first."""
        if not self._site_id:
            return EmailSearch(problem=Outcome.FORBIDDEN, detail="KAJABI_SITE_ID is not set: Kajabi searches a site")
        query = urlencode({"filter[site_id]": self._site_id, "filter[search]": email.strip(), "page[size]": 25})
        customers = self._listing(f"/v1/customers?{query}")
        if isinstance(customers, _Failure):
            return EmailSearch(problem=customers.outcome, detail=customers.detail)
        wanted = email.strip().casefold()
        matching = [c for c in customers if str((c.get("attributes") or {}).get("email", "")).casefold() == wanted]
        if len(matching) != 1:
            return EmailSearch(customers=len(matching))
        found: list[Candidate] = []
        offers: dict[str, str | None] = {}
        for number in range(1, SEARCH_PURCHASES // PAGE_SIZE + 1):
            listed = urlencode(
                {"filter[customer_id]": str(matching[0].get("id", "")), "page[number]": number, "page[size]": PAGE_SIZE}
            )
            purchases = self._listing(f"/v1/purchases?{listed}")
            if isinstance(purchases, _Failure):
                return EmailSearch(customers=1, problem=purchases.outcome, detail=purchases.detail)
            found += [self._candidate(purchase, offers) for purchase in purchases if purchase.get("id")]
            if len(purchases) < PAGE_SIZE:
                return EmailSearch(customers=1, candidates=active_first(found))
        return EmailSearch(customers=1, candidates=active_first(found), more=True)

    def _listing(self, path: str) -> list[dict[str, Any]] | _Failure:
        """The `data` list of a JSON:API listing, or why there is none."""
        answer = self._resource("GET", path, _http.LOOKUP_POLICY)
        if isinstance(answer, _Failure):
            return answer
        if answer.status_code != 200:
            return _classify_error(answer, cancelling=False)
        body = _http.json_body(answer)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return _Failure(Outcome.UNKNOWN, f"unreadable listing: {_http.body_excerpt(answer)}", 200, False)
        return [item for item in data if isinstance(item, dict)]

    def _candidate(self, purchase: dict[str, Any], offers: dict[str, str | None]) -> Candidate:
        attributes = purchase.get("attributes") or {}
        offer_id = _related_id(purchase.get("relationships") or {}, "offer")
        if offer_id and offer_id not in offers:
            offer = self._related(f"/v1/offers/{quote(offer_id, safe='')}")
            offers[offer_id] = str(offer.get("title")) if offer and offer.get("title") else None
        cents = attributes.get("amount_in_cents")
        currency = attributes.get("currency")
        return Candidate(
            subscription_id=str(purchase["id"]),
            status=SubscriptionStatus.DEACTIVATED if attributes.get("deactivated_at") else SubscriptionStatus.ACTIVE,
            product=offers.get(offer_id) if offer_id else None,
            amount=str(Decimal(cents) / 100) if isinstance(cents, int) else None,
            currency=currency.upper() if isinstance(currency, str) else None,
            started=str(attributes.get("effective_start_at") or attributes.get("created_at") or "")[:10] or None,
        )

    # -- cancel ------------------------------------------------------------------------------------------

    def cancel(self, subscription_id: str) -> CancelResult:
        purchase_id = self.validate_id(subscription_id)
        started = time.monotonic()
        path = f"/v1/purchases/{quote(purchase_id, safe='')}/cancel_subscription"
        answer = self._resource("POST", path, _http.CANCEL_POLICY)
        elapsed = _ms_since(started)
        if isinstance(answer, _Failure):
            return CancelResult(answer.outcome, answer.detail, answer.http_status, answer.retry_safe, elapsed)
        response = answer
        if response.status_code == 200:
            if _purchase(response) is None:
                # A 200 that is not Kajabi's purchase may come from something in between: do not claim success.
                detail = f"HTTP 200 without a purchase in the body: {_http.body_excerpt(response)}"
                return CancelResult(Outcome.UNKNOWN, detail, 200, False, elapsed)
            return CancelResult(Outcome.CANCELLED, "subscription cancelled, purchase deactivated", 200, False, elapsed)
        failure = _classify_error(response, cancelling=True)
        return CancelResult(failure.outcome, failure.detail, response.status_code, failure.retry_safe, elapsed)

    # -- transport and auth ------------------------------------------------------------------------------

    def _resource(self, method: str, path: str, policy: _http.RetryPolicy) -> httpx.Response | _Failure:
        """A resource call with a bearer token; one fresh token and one more try after a 401."""
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
            if isinstance(token, _Failure):
                return token
            result = _http.exchange(
                self._client,
                lambda token=token: self._client.build_request(  # type: ignore[misc]
                    method,
                    self._base + path,
                    headers={"Authorization": f"Bearer {token}", "Accept": JSON_API},
                ),
                policy,
                sleep=self._sleep,
            )
            if result.response is None:
                assert result.error is not None
                return _transport_failure(result, cancelling=policy is _http.CANCEL_POLICY)
            if result.response.status_code != 401:
                return result.response
            self._forget_token(token)
        return _Failure(Outcome.AUTH_FAILED, "Kajabi refused the access token twice (HTTP 401)", 401, False)

    def _access_token(self, *, force: bool) -> str | _Failure:
        with self._token_lock:
            if not force and self._token is not None and self._clock() < self._token.expires_at:
                return self._token.value
            result = _http.exchange(
                self._client,
                lambda: self._client.build_request(
                    "POST",
                    self._base + "/v1/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret,
                    },
                    headers={"Accept": "application/json"},
                ),
                _http.LOOKUP_POLICY,
                sleep=self._sleep,
            )
            if result.response is None:
                assert result.error is not None
                detail = f"token endpoint: {_http.describe_transport_error(result.error)}"
                return _Failure(Outcome.PROVIDER_ERROR, detail, None, True)
            return self._store_token(result.response)

    def _store_token(self, response: httpx.Response) -> str | _Failure:
        body = _http.json_body(response)
        status = response.status_code
        if status in (400, 401):
            said = body.get("error") if isinstance(body, dict) else None
            detail = f"Kajabi refused the API credentials: {said or _http.body_excerpt(response)}"
            return _Failure(Outcome.AUTH_FAILED, detail, status, False)
        if status == 403:
            return _Failure(Outcome.FORBIDDEN, "token endpoint answered 403", status, False)
        if status == 429:
            return _Failure(Outcome.RATE_LIMITED, "token endpoint rate limited", status, True)
        if status >= 500 or status != 200:
            return _Failure(
                Outcome.PROVIDER_ERROR,
                f"token endpoint HTTP {status}: {_http.body_excerpt(response)}",
                status,
                True,
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            return _Failure(Outcome.PROVIDER_ERROR, "token endpoint answered without an access token", 200, True)
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if isinstance(expires_in, int | float) and expires_in > 0:
            lifetime = max(0.0, float(expires_in) - min(TOKEN_MARGIN_SECONDS, float(expires_in) / 10))
            self._token = _Token(token, self._clock() + lifetime)
        else:
            self._token = None  # no lifetime given: use it for this call only
        return token

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token.value == token:
                self._token = None


def _transport_failure(result: _http.Exchange, *, cancelling: bool) -> _Failure:
    assert result.error is not None
    detail = _http.describe_transport_error(result.error)
    if not result.may_have_reached_provider:
        return _Failure(Outcome.PROVIDER_ERROR, f"Kajabi: {detail}", None, True)
    if cancelling:
        return _Failure(Outcome.UNKNOWN, f"Kajabi: {detail}; read the purchase before anything else", None, False)
    return _Failure(Outcome.PROVIDER_ERROR, f"Kajabi: {detail}", None, True)


def _classify_error(response: httpx.Response, *, cancelling: bool) -> _Failure:
    status = response.status_code
    words = _jsonapi_errors(response)
    detail = words or f"HTTP {status}: {_http.body_excerpt(response)}"
    if status == 404:
        return _Failure(Outcome.NOT_FOUND, detail, status, False)
    if status == 403:
        return _Failure(Outcome.FORBIDDEN, detail, status, False)
    if status == 401:
        return _Failure(Outcome.AUTH_FAILED, detail, status, False)
    if status == 422:
        if _ALREADY_CANCELLED.search(detail):
            return _Failure(Outcome.ALREADY_CANCELLED, detail, status, False)
        return _Failure(Outcome.NOT_CANCELLABLE, detail, status, False)
    if status == 429:
        return _Failure(Outcome.RATE_LIMITED, detail, status, True)
    if status >= 500 and cancelling and status != 503:
        # The POST was received and is not idempotent: Kajabi may have cancelled before failing to answer.
        return _Failure(Outcome.UNKNOWN, f"{detail}; Kajabi may have acted: read the purchase first", status, False)
    if status >= 500:
        return _Failure(Outcome.PROVIDER_ERROR, detail, status, True)
    if status == 200 and not cancelling:
        return _Failure(Outcome.UNKNOWN, detail, status, False)
    return _Failure(Outcome.PROVIDER_ERROR, f"unexpected answer: {detail}", status, False)


def _jsonapi_errors(response: httpx.Response) -> str:
    """JSON:API `errors[]` as `title: detail; ...`, or "" when the body is not that shape."""
    body = _http.json_body(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        title, detail = error.get("title"), error.get("detail")
        text = ": ".join(str(p) for p in (title, detail) if p)
        if text:
            parts.append(text)
    return "; ".join(parts)


def _purchase(response: httpx.Response) -> dict[str, Any] | None:
    body = _http.json_body(response)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "purchases" or not isinstance(data.get("attributes"), dict):
        return None
    return data


def _related_id(relationships: dict[str, Any], name: str) -> str | None:
    related = relationships.get(name)
    data = related.get("data") if isinstance(related, dict) else None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if value not in (None, "") else None


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
