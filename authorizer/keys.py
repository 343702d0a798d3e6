"""In-process cache of the public verification keys (read from the table's JWKS item)."""

from __future__ import annotations

from collections.abc import Callable

from steps.core.clock import Clock
from steps.core.public_keys import PublicKey, PublicKeySet

#: How long fetched keys are used before they are read again.
MAX_AGE_SECONDS = 300.0
#: An unknown kid triggers a refetch at most this often (a flood of forged kids costs one read
#: per interval, not one per request).
REFETCH_INTERVAL_SECONDS = 30.0


class PublicKeyCache:
    """Looks keys up by ``kid``; refetches when stale, or (rate-limited) for an unknown kid."""

    def __init__(
        self,
        load: Callable[[], PublicKeySet],
        *,
        clock: Clock,
        max_age: float = MAX_AGE_SECONDS,
        refetch_interval: float = REFETCH_INTERVAL_SECONDS,
    ) -> None:
        self._load = load
        self._clock = clock
        self._max_age = max_age
        self._refetch_interval = refetch_interval
        self._keys: PublicKeySet | None = None
        self._fetched_at = 0.0

    def _age(self, now: float) -> float:
        return now - self._fetched_at

    def _fetch(self, now: float) -> PublicKeySet:
        keys = self._load()
        self._keys, self._fetched_at = keys, now
        return keys

    def lookup(self, kid: str) -> PublicKey | None:
        now = self._clock.now()
        keys = self._keys
        if keys is None or not 0 <= now - self._fetched_at < self._max_age:
            keys = self._fetch(now)
        key = keys.get(kid)
        if key is None and not 0 <= self._age(now) < self._refetch_interval:
            key = self._fetch(now).get(kid)
        return key

    def clear(self) -> None:
        self._keys = None
        self._fetched_at = 0.0
