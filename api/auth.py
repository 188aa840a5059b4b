"""Who is calling: a local API token (`qt_…`) or a JWT from the identity provider."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException

from api.auth_jwt import JwtRejected, JwtVerifier, KeysUnavailable, looks_like_jwt
from api.tokens import TokenStore
from application.security import Principal

log = logging.getLogger("qualtrace.auth")


class Authenticator:
    """`authenticate(token)` → the principal, or None (401). Never logs the token."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.local = TokenStore(container.url)
        self.jwt = JwtVerifier.from_settings(container.settings, container.url)

    def __call__(self, token: str) -> Principal | None:
        if not token or len(token) > 8192:
            return None
        with self.container.pool.connection() as conn:
            if self.jwt is not None and looks_like_jwt(token):
                try:
                    return self.jwt.principal(conn, token)
                except JwtRejected as e:
                    log.info("JWT rejected: %s", e)
                    return None
                except KeysUnavailable as e:
                    log.warning("JWT keys unavailable: %s", e)
                    raise HTTPException(503, "the identity provider's keys are unavailable; retry later") from None
            return self.local.principal(conn, token)
