"""Local API tokens: random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import psycopg

from api.principal_cache import revoke_and_notify, token_key
from application.security import ROLES, Principal


class TokenError(ValueError):
    pass


def hash_token(token: str) -> str:
    """SHA-256, hex: what `api_tokens.token_hash` holds (and the principal cache's key)."""
    return token_key(token)


class TokenStore:
    def __init__(self, url: str) -> None:
        self.url = url

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
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, token_hash, user_id, name, role, projects, region, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    token_id,
                    hash_token(token),
                    user_id,
                    name,
                    role,
                    list(projects or []),
                    region,
                    expires_at,
                ),
            )
        return token_id, token

    def revoke(self, token_id: str) -> bool:
        """Revoke: when this returns, this process and every running service refuse the token
        (`api.principal_cache.revoke_and_notify`)."""
        changed = revoke_and_notify(
            self.url,
            token_id,
            [
                (
                    "UPDATE api_tokens SET revoked_at = now() WHERE id=%s AND revoked_at IS NULL",
                    (token_id,),
                )
            ],
        )
        return changed == 1

    def list(self) -> list[dict[str, Any]]:
        with (
            psycopg.connect(self.url, autocommit=True) as conn,
            conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
        ):
            cur.execute(
                "SELECT id, user_id, name, role, projects, region, created_at, expires_at, revoked_at"
                " FROM api_tokens ORDER BY created_at"
            )
            return list(cur.fetchall())

    def principal(self, conn: psycopg.Connection[Any], token: str) -> Principal | None:
        found = self.lookup(conn, hash_token(token))
        return found[0] if found else None

    def lookup(
        self, conn: psycopg.Connection[Any], token_hash: str
    ) -> tuple[Principal, datetime | None] | None:
        """The principal of a valid (not revoked, not expired) token, and when it expires."""
        row = conn.execute(
            "SELECT id, user_id, name, role, projects, region, expires_at FROM api_tokens WHERE token_hash=%s"
            " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            (token_hash,),
            prepare=True,
        ).fetchone()
        if row is None:
            return None
        principal = Principal(
            id=row[1],
            name=row[2],
            role=row[3],
            projects=tuple(row[4] or ()),
            region=row[5],
            token_id=row[0],
        )
        return principal, row[6]
