"""Local API tokens: random secrets shown once, stored only as SHA-256 hashes
(`store.tokens`); here, what a token grants: a role and a scope, as a `Principal`."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from application.security import ROLES, Principal
from store.principal_cache import token_key
from store.tokens import TokenTable


class TokenError(ValueError):
    pass


def hash_token(token: str) -> str:
    """SHA-256, hex: what `api_tokens.token_hash` holds (and the principal cache's key)."""
    return token_key(token)


class TokenStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.rows = TokenTable(url)

    def create(
        self,
        user_id: str,
        name: str,
        role: str,
        projects: list[str] | None = None,
        region: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Return (token id, secret token). The secret is not stored."""
        if role not in ROLES:
            raise TokenError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
        if not user_id.strip() or not name.strip():
            raise TokenError("user id and name are required")
        if projects and region:
            raise TokenError("a token is scoped to projects or to a region, not both")
        token_id = secrets.token_hex(8)
        token = f"qt_{token_id}_{secrets.token_urlsafe(32)}"
        self.rows.insert(
            token_id,
            hash_token(token),
            user_id,
            name,
            role,
            list(projects or []),
            region,
            expires_at,
        )
        return token_id, token

    def revoke(self, token_id: str) -> bool:
        """Revoke: when this returns, this process and every running service refuse the token
        (`store.principal_cache.revoke_and_notify`)."""
        return self.rows.revoke(token_id)

    def list(self) -> list[dict[str, Any]]:
        return self.rows.list()

    def principal(self, conn: Any, token: str) -> Principal | None:
        """`conn`: a connection to the store (`store.tokens.TokenTable.lookup`)."""
        found = self.lookup(conn, hash_token(token))
        return found[0] if found else None

    def lookup(self, conn: Any, token_hash: str) -> tuple[Principal, datetime | None] | None:
        """The principal of a valid (not revoked, not expired) token, and when it expires."""
        row = self.rows.lookup(conn, token_hash)
        if row is None:
            return None
        principal = Principal(
            id=row.user_id,
            name=row.name,
            role=row.role,
            projects=row.projects,
            region=row.region,
            token_id=row.id,
        )
        return principal, row.expires_at
