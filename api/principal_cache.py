"""Recently accepted bearer tokens, so that a request need not look its token up again.

An entry maps the SHA-256 of a token (never the token itself) to the principal it
authenticated, and stays fresh for at most `seconds` (`TOKEN_CACHE_SECONDS`) and never
past the token's own expiry. Rejected tokens are never cached: a new token works at once.

Revocation: `TokenStore.revoke` and `RevokedJwts.revoke` drop the token from every cache
of the process at once (so the CLI, the API and the tests in one process see it
immediately). A service process that did not do the revoking notices when the entry
goes stale: a revoked token is refused within `TOKEN_CACHE_SECONDS` everywhere.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone

from application.security import Principal

#: The bound on how long another process may still accept a revoked token (README "Security").
TOKEN_CACHE_SECONDS = 2.0

_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PrincipalCache:
    def __init__(
        self,
        seconds: float = TOKEN_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        max_entries: int = 10_000,
    ) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self.wall = wall
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}  # token key -> (principal, fresh until)
        #: Bumped by every revocation: a lookup that started before one must not be cached.
        self.generation = 0
        with _caches_lock:
            _caches.add(self)

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[1]:
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: str, principal: Principal, expires_at: datetime | None = None,
            generation: int | None = None) -> None:
        """Remember `principal` for `key` until the cache's bound or `expires_at`, whichever
        is first. `generation` is `self.generation` read before the lookup: when a token
        was revoked meanwhile, the lookup may predate it and is not remembered."""
        if self.seconds <= 0 or (generation is not None and generation != self.generation):
            return
        now = self.clock()
        fresh_until = now + self.seconds
        if expires_at is not None:
            fresh_until = min(fresh_until, now + (expires_at - self.wall()).total_seconds())
            if fresh_until <= now:
                return
        if len(self._entries) >= self.max_entries:
            self._evict(now)
        self._entries[key] = (principal, fresh_until)

    def forget(self, token_id: str) -> None:
        """Drop every entry of the token with this id (a local token's id, or `jwt:<jti>`)."""
        self.generation += 1
        for key, (principal, _) in list(self._entries.items()):
            if principal.token_id == token_id:
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def _evict(self, now: float) -> None:
        for key, (_, fresh_until) in list(self._entries.items()):
            if now >= fresh_until:
                self._entries.pop(key, None)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()


def forget_everywhere(token_id: str) -> None:
    """A token was revoked: no cache of this process may accept it any more."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget(token_id)
