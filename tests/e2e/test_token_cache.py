"""Accepted tokens are remembered for at most `TOKEN_CACHE_SECONDS`: a token revoked by
SQL by hand (no notification: the one path the revocation listener cannot hear) is refused
within that bound, and one revoked by this process at once. Revocations by other processes
through `TokenStore`/`RevokedJwts`/the CLI: tests/e2e/test_token_revocation_notify.py."""

from __future__ import annotations

from typing import Any

import psycopg

from api.auth import Authenticator
from store.principal_cache import TOKEN_CACHE_SECONDS, PrincipalCache


class Mono:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_revoked_elsewhere_is_refused_within_the_bound(api: Any) -> None:
    from api.tokens import TokenStore

    mono = Mono()
    api.client.app.state.authenticator = Authenticator(
        api.container, cache=PrincipalCache(clock=mono)
    )
    token_id, token = TokenStore(api.container.url).create("u7", "Temp", "auditor")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/tickets", headers=headers).status_code == 200
    # Revoked by hand, without NOTIFY: nothing tells this process.
    with psycopg.connect(api.container.url, autocommit=True) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (token_id,))
    mono.now += TOKEN_CACHE_SECONDS
    r = api.client.get("/tickets", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_token_revoked_by_this_process_is_refused_at_once(api: Any) -> None:
    from api.tokens import TokenStore

    mono = Mono()
    api.client.app.state.authenticator = Authenticator(
        api.container, cache=PrincipalCache(clock=mono)
    )
    store = TokenStore(api.container.url)
    token_id, token = store.create("u8", "Temp", "auditor")
    other_id, other = store.create("u9", "Other", "auditor")
    for t in (token, other):
        assert (
            api.client.get("/tickets", headers={"Authorization": f"Bearer {t}"}).status_code == 200
        )
    assert store.revoke(token_id)
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    # Only that token: the other one is still accepted.
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    )


def test_a_rejected_token_is_not_remembered(api: Any) -> None:
    """A token that did not work is looked up again: one created a moment later works."""
    from api.tokens import TokenStore

    token_id, token = TokenStore(api.container.url).create("u10", "Late", "auditor")
    with psycopg.connect(api.container.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
            (token_id,),
        )
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    with psycopg.connect(api.container.url, autocommit=True) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = NULL WHERE id = %s", (token_id,))
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
