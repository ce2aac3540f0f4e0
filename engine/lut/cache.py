"""The bake caches' lock and LRU helpers (the tables, the blown-white pass and the tail cache share the lock)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

_CACHE_LOCK = threading.Lock()  # guards the package's bake caches (the app renders from worker threads)


def _recall(store: OrderedDict, key: tuple) -> Any:
    """The table a bake cache holds under ``key`` (now its most recent), or None."""
    with _CACHE_LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    return None


def _remember(store: OrderedDict, key: tuple, value: Any, limit: int) -> Any:
    """``value`` kept in a bake cache under ``key``, the oldest dropped past ``limit``; returns it."""
    with _CACHE_LOCK:
        store[key] = value
        while len(store) > limit:
            store.popitem(last=False)
    return value
