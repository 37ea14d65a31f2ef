"""Finding a customer's subscriptions from their email at the provider, so a support agent can pick the one to
cancel instead of hunting for its id. The email is used for the search only: never stored, audited or logged."""

from __future__ import annotations

import re

from bot.core import calls
from bot.core.context import Core
from providers.base import EmailSearch, SearchesByEmail

# What an agent types when they mean an email: something@something.tld, nothing more.
EMAIL = re.compile(r"^[^@\s<>|]{1,64}@[^@\s<>|]{1,190}\.[^@\s<>|.]{2,24}$")


def looks_like_email(typed: str) -> bool:
    return bool(EMAIL.fullmatch(typed.strip()))


def can_search(core: Core, provider_name: str) -> bool:
    return isinstance(core.registry.get(provider_name), SearchesByEmail)


def find(core: Core, provider_name: str, email: str) -> EmailSearch:
    """The customer's subscriptions, active ones first; the caller checked can_search and the person's role."""
    provider = core.registry[provider_name]
    assert isinstance(provider, SearchesByEmail), "checked by can_search"
    return calls.search(core.calls, provider, provider, email.strip(), deadline=core.policy.provider_deadline)
