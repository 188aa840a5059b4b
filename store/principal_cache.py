"""Recently accepted bearer tokens, so that a request need not look its token up again.

An entry maps the SHA-256 of a token (never the token itself) to the principal it
authenticated, and stays fresh for at most `seconds` (`TOKEN_CACHE_SECONDS`) and never
past the token's own expiry. Rejected tokens are never cached: a new token works at once.

Revocation, in every process at once:

- `TokenStore.revoke` and `RevokedJwts.revoke` (`revoke_and_notify`) change the row and send
  `NOTIFY qualtrace_tokens` in ONE transaction, so the notification is delivered exactly
  when the revocation commits; they also drop the token from every cache of their own
  process.
- Each service process runs a `RevocationListener` (started and stopped with the HTTP app):
  its own connection LISTENs on `qualtrace_tokens`, drops the named token from its caches,
  then acknowledges on `qualtrace_tokens_ack`. The revoker waits for one acknowledgement
  per listening service (at most `ACK_SECONDS`, when any entry has gone stale anyway), so
  when `qualtrace token revoke` returns, every running service already refuses the token.
- Fail safe: while a listener is not connected and listening (start-up, an error, its
  connection killed) its caches answer nothing and remember nothing; they are cleared and
  answer again only once LISTEN is re-established (reconnecting with a short backoff).

What bypasses these paths (an UPDATE of `api_tokens` by hand) is still bounded by
`TOKEN_CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Generic, Protocol, TypeVar

import psycopg

from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.auth")

#: The bound for changes that bypass `revoke_and_notify` (SQL by hand): README "Security".
TOKEN_CACHE_SECONDS = 2.0
#: The channel of revocations (payload: "<nonce> <token id>") and of listeners' acknowledgements (payload: nonce).
CHANNEL = "qualtrace_tokens"
ACK_CHANNEL = "qualtrace_tokens_ack"
#: A listener's `application_name` once it LISTENs: how a revoker counts the services to wait for.
LISTENER_NAME = "qualtrace-token-listener"
#: How long a revoker waits for the listening services' acknowledgements (then logs and
#: returns): as long as an entry stays fresh, so a service that did not answer (hung, or cut
#: off without knowing it) has at least let its entry for the token go stale by then.
ACK_SECONDS = TOKEN_CACHE_SECONDS
_MAX_PAYLOAD = (
    7000  # PostgreSQL refuses payloads of 8000 bytes or more; longer ids clear whole caches
)


class Cacheable(Protocol):
    """What the cache needs of a principal: the id of the token that authenticated it."""

    @property
    def token_id(self) -> str | None: ...


#: The principal type (the API caches `application.security.Principal`).
P = TypeVar("P", bound=Cacheable)

_caches: weakref.WeakSet[PrincipalCache[Any]] = weakref.WeakSet()
_caches_lock = threading.Lock()


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PrincipalCache(Generic[P]):
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
        self._entries: dict[str, tuple[P, float]] = {}  # token key -> (principal, fresh until)
        #: Bumped by every revocation and every change of `enabled`: a lookup that started
        #: before one must not be cached.
        self.generation = 0
        #: False while the process cannot hear other processes' revocations (see RevocationListener).
        self.enabled = True
        self._lock = threading.Lock()
        with _caches_lock:
            _caches.add(self)

    def get(self, key: str) -> P | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[1]:
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(
        self,
        key: str,
        principal: P,
        expires_at: datetime | None = None,
        generation: int | None = None,
    ) -> None:
        """Remember `principal` for `key` until the cache's bound or `expires_at`, whichever
        is first. `generation` is `self.generation` read before the lookup: when a token
        was revoked meanwhile (or the cache was disabled), the lookup may predate it and is
        not remembered."""
        if self.seconds <= 0:
            return
        now = self.clock()
        fresh_until = now + self.seconds
        if expires_at is not None:
            fresh_until = min(fresh_until, now + (expires_at - self.wall()).total_seconds())
            if fresh_until <= now:
                return
        with self._lock:  # against a revocation between the generation check and the write
            if not self.enabled or (generation is not None and generation != self.generation):
                return
            if len(self._entries) >= self.max_entries:
                self._evict(now)
            self._entries[key] = (principal, fresh_until)

    def forget(self, token_id: str) -> None:
        """Drop every entry of the token with this id (a local token's id, or `jwt:<jti>`)."""
        with self._lock:
            self.generation += 1
            for key, (principal, _) in list(self._entries.items()):
                if principal.token_id == token_id:
                    self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def disable(self) -> None:
        """Answer nothing and remember nothing until `enable()`."""
        with self._lock:
            self.enabled = False
            self.generation += 1
            self._entries.clear()

    def enable(self) -> None:
        """Start afresh: nothing remembered from before is trusted."""
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self.enabled = True

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


def revoke_and_notify(
    url: str, token_id: str, statements: list[tuple[str, tuple[Any, ...]]]
) -> int:
    """Run the revoking `statements` and `NOTIFY qualtrace_tokens` in one transaction (the
    notification is delivered when, and only if, the revocation commits); then drop the
    token from this process's caches and wait until every service that was listening has
    dropped it too. Returns the last statement's row count."""
    nonce = secrets.token_hex(8)
    payload = f"{nonce} {token_id}"
    if len(payload.encode()) > _MAX_PAYLOAD:
        payload = f"{nonce} "  # no id: the listeners clear their caches
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            changed = 0
            for statement, params in statements:
                changed = conn.execute(statement, params).rowcount  # type: ignore[arg-type]
            conn.execute(f"LISTEN {ACK_CHANNEL}")
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                (LISTENER_NAME,),
            ).fetchone()
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        forget_everywhere(token_id)
        _await_acks(conn, nonce, int(row[0]) if row else 0)
    return changed


def _await_acks(conn: psycopg.Connection[Any], nonce: str, expected: int) -> None:
    acks = 0
    deadline = time.monotonic() + ACK_SECONDS
    while acks < expected:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            log.warning(
                "revocation: %d of %d listening services confirmed within %g s",
                acks,
                expected,
                ACK_SECONDS,
            )
            return
        for n in conn.notifies(timeout=remaining, stop_after=expected - acks):
            if n.channel == ACK_CHANNEL and n.payload == nonce:
                acks += 1


class RevocationListener(BackgroundLoop):
    """Hears revocations made by any process and drops them from `caches`; while it is not
    listening, the caches answer nothing (see the module's docstring)."""

    thread_name = "token-revocations"

    def __init__(
        self,
        url: str,
        caches: list[PrincipalCache[Any]] | None = None,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        poll: float = 0.25,
    ) -> None:
        self.url = url
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll = poll
        #: Set while LISTEN is established and the caches answer.
        self.listening = threading.Event()
        #: How many times LISTEN was established; the backend's pid while it is.
        self.sessions = 0
        self.backend_pid: int | None = None
        self._caches: list[PrincipalCache[Any]] = []
        self._state = threading.Lock()
        self._delay = backoff
        super().__init__()
        for cache in caches or []:
            self.attach(cache)

    def attach(self, cache: PrincipalCache[Any]) -> None:
        with self._state:
            self._caches.append(cache)
            if self.listening.is_set():
                cache.enable()
            else:
                cache.disable()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._set_listening(None)

    def _set_listening(self, backend_pid: int | None) -> None:
        with self._state:
            for cache in self._caches:
                if backend_pid is None:
                    cache.disable()
                else:
                    cache.enable()
            self.backend_pid = backend_pid
            if backend_pid is None:
                self.listening.clear()
            else:
                self.sessions += 1
                self.listening.set()

    def _forget(self, payload: str) -> str:
        nonce, _, token_id = payload.partition(" ")
        with self._state:
            caches = list(self._caches)
        for cache in caches:
            if token_id:
                cache.forget(token_id)
            else:
                cache.clear()
        return nonce

    def _session(self) -> None:
        """Listen until stopped (`BackgroundLoop`: after a failure the caches stay off and
        a new session starts after a backoff)."""
        try:
            with psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                conn.execute("SELECT set_config('application_name', %s, false)", (LISTENER_NAME,))
                self._set_listening(conn.info.backend_pid)
                self._delay = self.backoff
                while not self._stop.is_set():
                    nonces = [
                        self._forget(n.payload)
                        for n in conn.notifies(timeout=self.poll, stop_after=1)
                    ]
                    for nonce in nonces:
                        conn.execute("SELECT pg_notify(%s, %s)", (ACK_CHANNEL, nonce))
        finally:
            self._set_listening(None)

    def _failed(self, error: BaseException) -> None:
        if not isinstance(error, psycopg.Error):  # a bug: the caches stay off, and we retry
            log.exception("token revocation listener failed; reconnecting")
        elif not self._stop.is_set():
            log.warning(
                "token revocation listener lost its connection (%s); reconnecting",
                type(error).__name__,
            )

    def _retry_seconds(self) -> float:
        delay, self._delay = self._delay, min(self._delay * 2, self.max_backoff)
        return delay
