"""Freezing start-up's objects: kept out of full collections, start-up's garbage freed first, later garbage freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.runtime.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_startup_objects_are_frozen_and_garbage_is_still_collected(unfrozen_after: None) -> None:
    kept = Node()
    garbage_of_startup = weakref.ref(Node())
    freeze_startup_objects()
    assert not any(tracked is kept for tracked in gc.get_objects())  # no generation holds it: a pass skips it
    assert garbage_of_startup() is None  # collected before the freeze, not kept for ever
    later = weakref.ref(Node())
    gc.collect()
    assert later() is None
