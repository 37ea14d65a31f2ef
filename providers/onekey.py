"""OneKey Payments subscriptions API v3: HMAC-signed GET (lookup) and DELETE (cancel).

Signing as documented for OneKey's v3 APIs: `X-Date` (UTC, whole seconds, `Z`), `X-Login` (API key), and
`Authorization: <prefix> <lowercase hex HMAC-SHA256(signature secret, X-Date + X-Login + body)>`.
UNCONFIRMED for the subscriptions API, so configurable: the prefix (default `OKP`) and whether the DELETE
carries `{}` (default: no body, signing the empty string). Errors are classified on `type`, then `code`, then
the HTTP status; 421 and 426 count only with OneKey's body, since plain HTTP gives them other meanings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from providers import _http
from providers.base import (
    CancelEffect,
    CancelResult,
    InvalidSubscriptionId,
    LookupResult,
    Outcome,
    SubscriptionSnapshot,
    SubscriptionStatus,
)

ID_PATTERN = re.compile(r"^[1-9][0-9]{0,18}$")
INT64_MAX = 2**63 - 1

# (outcome, retry safe) by OneKey's error type, then by its numeric code.
BY_TYPE: dict[str, tuple[Outcome, bool]] = {
    "SUBSCRIPTION_NOT_FOUND": (Outcome.NOT_FOUND, False),
    "SUBSCRIPTION_ALREADY_CANCELLED": (Outcome.ALREADY_CANCELLED, False),
    "SUBSCRIPTION_IS_TERMINATED": (Outcome.NOT_CANCELLABLE, False),
    "GENERIC_ERROR": (Outcome.PROVIDER_ERROR, True),
    "INVALID_CREDENTIALS": (Outcome.AUTH_FAILED, False),
    "INVALID_SIGNATURE": (Outcome.AUTH_FAILED, False),
    "INVALID_IP": (Outcome.AUTH_FAILED, False),
    "MISSING_REQUIRED_HEADER": (Outcome.AUTH_FAILED, False),
    "INVALID_DATE_RANGE": (Outcome.AUTH_FAILED, False),
    "FORBIDDEN_MERCHANT": (Outcome.FORBIDDEN, False),
}
BY_CODE: dict[int, tuple[Outcome, bool]] = {
    420: (Outcome.NOT_FOUND, False),
    421: (Outcome.ALREADY_CANCELLED, False),
    426: (Outcome.NOT_CANCELLABLE, False),
    501: (Outcome.PROVIDER_ERROR, True),
}
HINTS = {
    "INVALID_IP": "this server's IP address is not allow-listed in OneKey's merchant panel",
    "INVALID_DATE_RANGE": "this server's clock is off; check NTP",
    "INVALID_SIGNATURE": "ONEKEY_API_SIGNATURE (or ONEKEY_AUTH_PREFIX) does not match the merchant panel",
    "INVALID_CREDENTIALS": "ONEKEY_API_KEY is not accepted",
}
STATUSES = {
    "ACTIVE": SubscriptionStatus.ACTIVE,
    "PENDING": SubscriptionStatus.PENDING,
    "CANCELLED": SubscriptionStatus.CANCELLED,
    "TERMINATED": SubscriptionStatus.TERMINATED,
}


def sign(*, secret: str, x_date: str, x_login: str, body: str) -> str:
    return hmac.new(secret.encode("utf-8"), (x_date + x_login + body).encode("utf-8"), hashlib.sha256).hexdigest()


def x_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OneKeyProvider:
    name = "onekey"
    label = "OneKey Payments"
    effect = CancelEffect(immediate=True, refunds=False, reversible=False)
    id_hint = "a OneKey subscription id: a positive whole number of at most 19 digits"

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: str,
        api_signature: str,
        base_url: str = "https://api-stg.onekeypayments.com",
        auth_prefix: str = "OKP",
        send_empty_json: bool = False,
        sleep: _http.Sleep = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._secret = api_signature
        self._base = base_url.rstrip("/")
        self._prefix = auth_prefix
        self._delete_body = "{}" if send_empty_json else ""
        self._sleep = sleep
        self._now = now

    def __repr__(self) -> str:
        return f"OneKeyProvider(base_url={self._base!r})"

    def validate_id(self, raw: str) -> str:
        value = raw.strip()
        if not ID_PATTERN.fullmatch(value) or int(value) > INT64_MAX:
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise InvalidSubscriptionId(f"{shown!r} is not {self.id_hint}")
        return value

    def _signed(self, method: str, path: str, body: str) -> httpx.Request:
        date = x_date(self._now())
        signature = sign(secret=self._secret, x_date=date, x_login=self._api_key, body=body)
        headers = {
            "X-Date": date,
            "X-Login": self._api_key,
            "Authorization": f"{self._prefix} {signature}",
            "Content-Type": "application/json",
        }
        content = body.encode("utf-8") if body else None
        return self._client.build_request(method, self._base + path, headers=headers, content=content)

    def lookup(self, subscription_id: str) -> LookupResult:
        sub_id = self.validate_id(subscription_id)
        result = _http.exchange(
            self._client,
            lambda: self._signed("GET", f"/v3/subscriptions/{sub_id}", ""),
            _http.LOOKUP_POLICY,
            sleep=self._sleep,
        )
        if result.response is None:
            assert result.error is not None
            detail = f"OneKey: {_http.describe_transport_error(result.error)}"
            return LookupResult(None, Outcome.PROVIDER_ERROR, detail, None, result.elapsed_ms)
        response = result.response
        if response.status_code != 200:
            outcome, _safe, detail = classify(response)
            return LookupResult(None, outcome, detail, response.status_code, result.elapsed_ms)
        snapshot = _snapshot(sub_id, _http.json_body(response, parse_float=Decimal))
        if snapshot is None:
            detail = f"unreadable subscription: {_http.body_excerpt(response)}"
            return LookupResult(None, Outcome.UNKNOWN, detail, 200, result.elapsed_ms)
        return LookupResult(snapshot, None, "", 200, result.elapsed_ms)

    def cancel(self, subscription_id: str) -> CancelResult:
        sub_id = self.validate_id(subscription_id)
        result = _http.exchange(
            self._client,
            lambda: self._signed("DELETE", f"/v3/subscriptions/{sub_id}", self._delete_body),
            _http.CANCEL_POLICY,
            sleep=self._sleep,
        )
        if result.response is None:
            assert result.error is not None
            detail = f"OneKey: {_http.describe_transport_error(result.error)}"
            if result.may_have_reached_provider:
                return CancelResult(
                    Outcome.UNKNOWN,
                    detail + "; read the subscription before anything else",
                    None,
                    False,
                    result.elapsed_ms,
                )
            return CancelResult(Outcome.PROVIDER_ERROR, detail, None, True, result.elapsed_ms)
        response = result.response
        if response.status_code == 200:
            # The success body is undocumented: empty, {} or anything else all mean cancelled.
            return CancelResult(Outcome.CANCELLED, "subscription cancelled", 200, False, result.elapsed_ms)
        outcome, retry_safe, detail = classify(response)
        return CancelResult(outcome, detail, response.status_code, retry_safe, result.elapsed_ms)


def classify(response: httpx.Response) -> tuple[Outcome, bool, str]:
    """OneKey's error body by `type`, then `code`; only then the HTTP status."""
    body = _http.json_body(response)
    status = response.status_code
    error_type = body.get("type") if isinstance(body, dict) else None
    code = body.get("code") if isinstance(body, dict) else None
    description = body.get("description") if isinstance(body, dict) else None
    words = str(description) if description else _http.body_excerpt(response)
    if isinstance(error_type, str) and error_type in BY_TYPE:
        outcome, safe = BY_TYPE[error_type]
        hint = HINTS.get(error_type)
        return outcome, safe, f"{words} ({error_type})" + (f": {hint}" if hint else "")
    if isinstance(code, int) and not isinstance(code, bool) and code in BY_CODE:
        outcome, safe = BY_CODE[code]
        return outcome, safe, f"{words} (code {code})"
    detail = f"HTTP {status}: {words}"
    if status == 401:
        return Outcome.AUTH_FAILED, False, detail
    if status == 403:
        return Outcome.FORBIDDEN, False, detail
    if status == 404:
        return Outcome.NOT_FOUND, False, detail
    if status == 429:
        return Outcome.RATE_LIMITED, True, detail
    if status >= 500:
        return Outcome.PROVIDER_ERROR, True, detail
    # Anything else (a bare 421 Misdirected Request, a 400 without OneKey's body, ...) was not acted on.
    return Outcome.PROVIDER_ERROR, False, f"unexpected answer: {detail}"


def _snapshot(sub_id: str, body: Any) -> SubscriptionSnapshot | None:
    if not isinstance(body, dict):
        return None
    status = STATUSES.get(str(body.get("status", "")).upper())
    if status is None or str(body.get("id", sub_id)) != sub_id:
        return None
    amount = body.get("amount")
    dates = {
        key: str(body[key])
        for key in ("start_date", "end_date", "creation_date", "last_modified_date")
        if body.get(key)
    }
    notes = ("renews automatically",) if body.get("auto_renewal") is True else ()
    return SubscriptionSnapshot(
        subscription_id=sub_id,
        status=status,
        plan=str(body["subscription_plan"]) if body.get("subscription_plan") else None,
        amount=str(amount) if isinstance(amount, Decimal | int) and not isinstance(amount, bool) else None,
        dates=dates,
        notes=notes,
    )
