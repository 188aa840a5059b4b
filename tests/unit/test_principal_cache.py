"""The cache of accepted tokens (store/principal_cache.py): bounded freshness, the token's
own expiry, revocation by token id, and no caching of a lookup that a revocation overtook."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from application.security import Principal
from store.principal_cache import TOKEN_CACHE_SECONDS, PrincipalCache, forget_everywhere, token_key


class Ticking:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now += timedelta(seconds=seconds)


def make(t: Ticking, seconds: float = TOKEN_CACHE_SECONDS) -> PrincipalCache:
    return PrincipalCache(seconds, clock=lambda: t.mono, wall=lambda: t.now)


LI = Principal("u1", "Li", "front_desk", token_id="tok1")
WANG = Principal("u2", "Wang", "auditor", token_id="jwt:abc")


def test_an_entry_is_fresh_for_the_bound_and_then_gone() -> None:
    t = Ticking()
    cache = make(t)
    cache.put("k1", LI)
    t.advance(TOKEN_CACHE_SECONDS - 0.01)
    assert cache.get("k1") == LI
    t.advance(0.01)
    assert cache.get("k1") is None


def test_an_entry_never_outlives_the_tokens_expiry() -> None:
    t = Ticking()
    cache = make(t, seconds=60)
    cache.put("k1", LI, expires_at=t.now + timedelta(seconds=1))
    assert cache.get("k1") == LI
    t.advance(1)
    assert cache.get("k1") is None
    cache.put("k2", LI, expires_at=t.now - timedelta(seconds=1))  # already expired: not kept
    assert cache.get("k2") is None


def test_revoking_drops_the_token_from_every_cache_of_the_process() -> None:
    t = Ticking()
    first, second = make(t), make(t)
    for cache in (first, second):
        cache.put("k1", LI)
        cache.put("k2", WANG)
    forget_everywhere("tok1")
    assert first.get("k1") is None and second.get("k1") is None
    assert first.get("k2") == WANG and second.get("k2") == WANG
    forget_everywhere("jwt:abc")
    assert first.get("k2") is None and second.get("k2") is None


def test_a_lookup_overtaken_by_a_revocation_is_not_cached() -> None:
    t = Ticking()
    cache = make(t)
    generation = cache.generation  # the lookup starts (and may read the token as valid)...
    forget_everywhere("tok1")  # ...the token is revoked meanwhile...
    cache.put("k1", LI, generation=generation)  # ...so its answer must not be remembered
    assert cache.get("k1") is None
    cache.put("k1", LI, generation=cache.generation)
    assert cache.get("k1") == LI


def test_a_zero_bound_caches_nothing_and_the_key_is_the_stored_hash() -> None:
    from api.tokens import hash_token

    t = Ticking()
    cache = make(t, seconds=0)
    cache.put("k1", LI)
    assert cache.get("k1") is None
    assert token_key("qt_x_y") == hash_token("qt_x_y") != "qt_x_y"


def test_a_full_cache_evicts_stale_entries_first() -> None:
    t = Ticking()
    cache = PrincipalCache(5, clock=lambda: t.mono, wall=lambda: t.now, max_entries=2)
    cache.put("old", LI)
    t.advance(3)
    cache.put("new", WANG)
    t.advance(3)  # "old" is stale now, "new" is not
    cache.put("newest", LI)
    assert cache.get("old") is None
    assert cache.get("new") == WANG and cache.get("newest") == LI


def test_a_disabled_cache_answers_nothing_and_starts_afresh_when_enabled() -> None:
    """While revocations by other processes cannot be heard, nothing is answered from memory
    (store.principal_cache.RevocationListener), and nothing from before is trusted after."""
    t = Ticking()
    cache = make(t)
    cache.put("k1", LI)
    generation = cache.generation  # a lookup starts while the listener is still connected...
    cache.disable()  # ...its connection drops
    assert cache.get("k1") is None
    cache.put("k2", WANG)  # nothing is remembered while disabled
    cache.enable()
    assert cache.get("k1") is None and cache.get("k2") is None  # the old entry is not trusted
    cache.put("k3", LI, generation=generation)  # ...and the lookup from before is not remembered
    assert cache.get("k3") is None
    cache.put("k3", LI, generation=cache.generation)
    assert cache.get("k3") == LI


def test_a_listener_attaches_caches_switched_off_until_it_listens() -> None:
    from store.principal_cache import RevocationListener

    t = Ticking()
    cache = make(t)
    listener = RevocationListener("postgresql://unused@127.0.0.1:1/none", [cache])  # not started
    cache.put("k1", LI)
    assert cache.get("k1") is None and not listener.listening.is_set()
    listener.stop()  # stopping one that never started keeps its caches off
    assert not cache.enabled
