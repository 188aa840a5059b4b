"""Who is calling: a local API token (`qt_…`) or a JWT from the identity provider."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import HTTPException

from api.auth_jwt import JwtRejected, JwtVerifier, KeysUnavailable, looks_like_jwt
from api.tokens import TokenStore
from application.security import Principal
from store.principal_cache import PrincipalCache, token_key

log = logging.getLogger("qualtrace.auth")

MAX_TOKEN_LENGTH = 8192


class Authenticator:
    """`authenticate(token)` → the principal, or None (401). Never logs the token.

    Accepted tokens are remembered briefly (`store.principal_cache`): `cached(token)` answers
    from memory without I/O, or None when the token must be looked up."""

    def __init__(self, container: Any, cache: PrincipalCache | None = None) -> None:
        self.container = container
        self.local = TokenStore(container.url)
        self.jwt = JwtVerifier.from_settings(container.settings, container.url)
        self.cache = cache if cache is not None else PrincipalCache()

    def cached(self, token: str) -> Principal | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return self.cache.get(token_key(token))

    def __call__(self, token: str) -> Principal | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        key = token_key(token)
        principal = self.cache.get(key)
        if principal is not None:
            return principal
        generation = self.cache.generation  # before the lookup: see PrincipalCache.put
        valid_until: datetime | None
        with self.container.pool.connection() as conn:
            if self.jwt is not None and looks_like_jwt(token):
                try:
                    principal, valid_until = self.jwt.authenticate(conn, token)
                except JwtRejected as e:
                    log.info("JWT rejected: %s", e)
                    return None
                except KeysUnavailable as e:
                    log.warning("JWT keys unavailable: %s", e)
                    raise HTTPException(
                        503, "the identity provider's keys are unavailable; retry later"
                    ) from None
            else:
                found = self.local.lookup(conn, key)
                if found is None:
                    return None
                principal, valid_until = found
        self.cache.put(key, principal, valid_until, generation)
        return principal
